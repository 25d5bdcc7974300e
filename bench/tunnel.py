#!/usr/bin/env python3
"""Provisioning time and the cost of the SSH tunnel, in one run on this host (as root).

Starts a real sshd on loopback, creates a generic machine on it (provisioning the agent into temp
paths), then times the stock docker CLI through the tunnel's socket against the same commands on
the agent's own socket. Usage: python3 bench/tunnel.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine.busybox import image_tar  # noqa: E402
from tests.support.agent import cleanup_state  # noqa: E402
from tests.support.cli import agent_args, stop_agent  # noqa: E402
from tests.support.sshd import Sshd  # noqa: E402


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def median_ms(command: list[str], env: dict[str, str], runs: int) -> float:
    timed(command, env)  # warm up
    return statistics.median(timed(command, env) for _ in range(runs)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-tunnel-"))
    sshd = Sshd(base)
    sshd.start()
    guest = base / "guest"
    guest.mkdir()
    env = dict(os.environ, MACHINE_STORAGE_PATH=str(base / "store"), DOCKER_CONFIG=str(base / "docker-config"))
    env.pop("DOCKER_HOST", None)
    machine = [sys.executable, "-m", "machine"]
    rows: list[tuple[str, str, str, str]] = []
    try:
        create = timed([*machine, "create", *sshd.generic_args(), *agent_args(guest), "bench"], env)
        again = timed([*machine, "provision", "bench"], env)
        rows.append(("machine create (generic, packages present)", f"{create:.2f} s", "", "goal <= 3 s"))
        rows.append(("machine provision (already provisioned)", f"{again:.2f} s", "", ""))
        start_tunnel = timed([*machine, "env", "bench"], env)
        rows.append(("first `machine env` (starts the tunnel)", f"{start_tunnel:.2f} s", "", ""))
        tunnel_env = dict(env, DOCKER_HOST=f"unix://{base}/store/machines/bench/docker.sock")
        direct_env = dict(env, DOCKER_HOST=f"unix://{guest}/agent.sock")
        image = base / "busybox.tar"
        image_tar(image, "busybox:test")
        subprocess.run(["docker", "load", "-i", str(image)], env=direct_env, capture_output=True)
        for label, command in (
            ("docker ps", ["docker", "ps"]),
            ("docker run --rm busybox:test true", ["docker", "run", "--rm", "busybox:test", "true"]),
        ):
            try:
                direct = median_ms(command, direct_env, args.runs)
                tunnel = median_ms(command, tunnel_env, args.runs)
            except subprocess.CalledProcessError as e:
                rows.append((label, "failed", "", e.stderr.decode(errors="replace").strip()[:60]))
                continue
            goal = "goal <= 1.5x" if label == "docker ps" else "goal <= 0.5x dockerd (bench/agent_run.py)"
            rows.append(
                (
                    f"{label}: tunnel / direct (median ms)",
                    f"{tunnel:.1f} / {direct:.1f}",
                    f"{tunnel / direct:.2f}x",
                    goal,
                )
            )
    finally:
        subprocess.run([*machine, "rm", "-f", "-y", "bench"], env=env, capture_output=True)
        sshd.stop()
        stop_agent(guest)
        cleanup_state(guest / "agent-root")
        subprocess.run(["rm", "-rf", str(base)])
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>14}  {'ratio':>6}  note")
    for name, value, ratio, note in rows:
        print(f"{name:<{width}}  {value:>14}  {ratio:>6}  {note}")


if __name__ == "__main__":
    main()
