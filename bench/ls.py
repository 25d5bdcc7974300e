#!/usr/bin/env python3
"""`machine ls` with 20 generic machines on loopback sshds, 2 of them unreachable, timed.

Creates 18 machines on a real sshd, one on an sshd that is then stopped (its port refuses connections) and
one on an sshd replaced by a socket that accepts TCP but never answers (no SSH banner: only the timeout
ends the wait), then times `machine ls -t T` over all 20 and over the 18 reachable ones (`--filter`), and
`machine ls -q` (no machine asked: the cost of starting the command). Usage: python3 bench/ls.py [--runs N] [-t T]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.sshd import Sshd  # noqa: E402

REACHABLE = [f"ok{i:02d}" for i in range(1, 19)]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out


def median(command: list[str], env: dict[str, str], runs: int) -> tuple[float, str]:
    timed(command, env)  # warm up
    results = [timed(command, env) for _ in range(runs)]
    return statistics.median(seconds for seconds, _ in results), results[-1][1]


def states(listing: str) -> dict[str, str]:
    return dict(line.split("\t") for line in listing.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("-t", "--timeout", type=float, default=2.0)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-ls-"))
    env = dict(os.environ, MACHINE_STORAGE_PATH=str(base / "store"), DOCKER_CONFIG=str(base / "docker-config"))
    for name in ("MACHINE_NAME", "DOCKER_HOST", "DOCKER_CONTEXT"):
        env.pop(name, None)
    machine = [sys.executable, "-m", "machine"]
    servers = {name: Sshd(base / name) for name in ("sshd", "down", "hung") if not (base / name).mkdir()}
    hung: socket.socket | None = None
    rows: list[tuple[str, str, str]] = []
    try:
        for server in servers.values():
            server.start()
        began = time.perf_counter()
        for name, server in [
            *((n, servers["sshd"]) for n in REACHABLE),
            ("down", servers["down"]),
            ("hung", servers["hung"]),
        ]:
            subprocess.run(
                [*machine, "create", *server.generic_args(), "--no-provision", name],
                env=env,
                check=True,
                capture_output=True,
            )
        rows.append(
            ("machine create --no-provision (generic), each", f"{(time.perf_counter() - began) / 20:.2f} s", "")
        )
        servers["down"].stop()  # its port now refuses connections
        servers["hung"].stop()
        hung = socket.create_server(("127.0.0.1", servers["hung"].port), backlog=64)  # accepts, never answers
        fmt = ["--format", "{{.Name}}\\t{{.State}}"]
        t = f"{args.timeout:g}"
        all_20, listing = median([*machine, "ls", "-t", t, *fmt], env, args.runs)
        seen = states(listing)
        expected = {**dict.fromkeys(REACHABLE, "Running"), "down": "Stopped", "hung": "Timeout"}
        check = "states as expected" if seen == expected else f"UNEXPECTED states: {seen}"
        rows.append(
            (f"machine ls -t {t}: 20 machines, 1 refused, 1 hung", f"{all_20:.2f} s", f"goal <= {t} s + 1 s; {check}")
        )
        only, listing = median([*machine, "ls", "-t", t, "--filter", "name=^ok", *fmt], env, args.runs)
        check = "all Running" if states(listing) == dict.fromkeys(REACHABLE, "Running") else f"UNEXPECTED: {listing!r}"
        rows.append(
            (f"machine ls -t {t} --filter name=^ok: the 18 reachable", f"{only:.2f} s", f"goal <= 1 s; {check}")
        )
        quiet, _ = median([*machine, "ls", "-q"], env, args.runs)
        rows.append(("machine ls -q (no machine asked: command start-up)", f"{quiet:.2f} s", ""))
        rows.append(
            (
                f"ls of 20 minus the {t} s timeout",
                f"{all_20 - args.timeout:+.2f} s",
                "start-up and the reachable ones",
            )
        )
    finally:
        if hung:
            hung.close()
        subprocess.run([*machine, "rm", "-f", "-y", *REACHABLE, "down", "hung"], env=env, capture_output=True)
        for server in servers.values():
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure (median of ' + str(args.runs) + ' runs)':<{width}}  {'value':>8}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>8}  {note}")


if __name__ == "__main__":
    main()
