#!/usr/bin/env python3
"""`docker run --rm IMAGE true` through the agent vs dockerd, plus the agent's memory, in one run (root).

Starts the agent and Debian's dockerd (if installed) on private sockets and data roots, loads the
same busybox test image into both, and prints a table. Usage: python3 bench/agent_run.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine.busybox import image_tar  # noqa: E402
from tests.support.agent import Agent, cleanup_state  # noqa: E402

IMAGE = "busybox:test"


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_times(env: dict[str, str], runs: int, options: tuple[str, ...] = ()) -> list[float]:
    command = ["docker", "run", "--rm", *options, IMAGE, "true"]
    subprocess.run(command, env=env, check=True, capture_output=True)  # warm up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def start_dockerd(base: Path, network: list[str] | None = None) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """dockerd on its own socket and roots (no networking unless `network` options are given)."""
    sock = base / "docker.sock"
    options = network if network is not None else ["--iptables=false", "--ip6tables=false", "--bridge=none"]
    proc = subprocess.Popen(
        [
            "dockerd",
            "--host",
            f"unix://{sock}",
            "--data-root",
            str(base / "root"),
            "--exec-root",
            str(base / "exec"),
            "--pidfile",
            str(base / "dockerd.pid"),
            *options,
            "--containerd-namespace",
            "bench",
            "--containerd-plugins-namespace",
            "bench-plugins",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(base / "dockerd.log", "wb"),  # noqa: SIM115 (dockerd's log for as long as it runs)
    )
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
    deadline = time.monotonic() + 60
    while subprocess.run(["docker", "version"], env=env, capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not start: {(base / 'dockerd.log').read_text()[-2000:]}")
        time.sleep(0.2)
    return proc, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    image = base / "busybox.tar"
    image_tar(image, IMAGE)
    rows: list[tuple[str, str]] = []
    agent = Agent(base / "agent")
    (base / "agent").mkdir()
    dockerd = None
    try:
        agent.start()
        agent.docker("load", "-i", str(image))
        assert agent.proc is not None
        idle = rss_kb(agent.proc.pid)
        ours = run_times(agent.env, args.runs, ("--network", "none"))
        rows.append(("agent: docker run --rm --network none true, median (ms)", f"{statistics.median(ours):.1f}"))
        unconfined = run_times(agent.env, args.runs, ("--network", "none", "--security-opt", "seccomp=unconfined"))
        rows.append(("agent: the same without the seccomp profile (ms)", f"{statistics.median(unconfined):.1f}"))
        bridged = run_times(agent.env, args.runs)
        rows.append(("agent: the same on the default bridge network (ms)", f"{statistics.median(bridged):.1f}"))
        names = [f"rss{i}" for i in range(5)]
        for name in names:
            agent.docker("run", "-d", "--name", name, IMAGE, "sleep", "600")
        time.sleep(0.5)
        monitors = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-f", f"conmon.*{agent.root}"], capture_output=True, text=True
            ).stdout.split()
        ]
        busy = rss_kb(agent.proc.pid)
        per_container = (busy - idle + sum(rss_kb(p) for p in monitors)) / len(names)
        rows.append(("agent: idle RSS (MB)", f"{idle / 1024:.1f}"))
        rows.append(("agent: RSS per running container, agent + conmon (MB)", f"{per_container / 1024:.1f}"))
        if shutil.which("dockerd"):
            (base / "dockerd").mkdir()
            dockerd, env = start_dockerd(base / "dockerd")
            subprocess.run(["docker", "load", "-i", str(image)], env=env, check=True, capture_output=True)
            theirs = run_times(env, args.runs, ("--network", "none"))
            rows.append(
                ("dockerd: docker run --rm --network none true, median (ms)", f"{statistics.median(theirs):.1f}")
            )
            rows.append(
                ("ratio agent / dockerd (goal <= 0.3)", f"{statistics.median(ours) / statistics.median(theirs):.2f}")
            )
        else:
            rows.append(("dockerd", "not installed (apt-get install docker.io)"))
    finally:
        if dockerd is not None:
            dockerd.send_signal(signal.SIGTERM)
            dockerd.wait(30)
            subprocess.run(["umount", "-R", str(base / "dockerd" / "root")], capture_output=True)
        agent.cleanup()
        cleanup_state(base / "dockerd")
        shutil.rmtree(base, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10}")


if __name__ == "__main__":
    main()
