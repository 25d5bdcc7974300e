#!/usr/bin/env python3
"""Container networking costs, in one run (root): start on a user network vs `--network none`, and TCP
throughput into a container through its published port (the agent's proxy) vs its address directly and
vs dockerd's docker-proxy (Debian's docker.io, started here with its own bridge and removed after).

Usage: python3 bench/network.py [--runs N]
"""

from __future__ import annotations

import argparse
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

from machine.busybox import image_tar  # noqa: E402
from tests.support.agent import Agent  # noqa: E402

IMAGE = "busybox:test"
MB = 200


def run_ms(agent: Agent, network: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        agent.docker("run", "--rm", "--network", network, IMAGE, "true")
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def throughput(host: str, port: int) -> float:
    """MB/s sending MB megabytes to a sink in the container (nc -l > /dev/null)."""
    block = b"\0" * (1 << 20)
    deadline = time.monotonic() + 10
    while True:
        try:
            conn = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    start = time.perf_counter()
    with conn:
        for _ in range(MB):
            conn.sendall(block)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)
    return MB / (time.perf_counter() - start)


def dockerd_proxy(base: Path) -> float:
    """Throughput through docker-proxy of a dockerd with bridge networking; everything it set up is removed."""
    from bench.agent_run import start_dockerd

    root = base / "dockerd"
    root.mkdir()
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    proc, env = start_dockerd(root, ["--bridge=", "--bip=172.31.250.1/24", "--iptables=true", "--userland-proxy=true"])
    try:
        subprocess.run(["docker", "load", "-i", str(base / "busybox.tar")], env=env, check=True, capture_output=True)
        subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                "sink",
                "-p",
                "18091:9000",
                IMAGE,
                "sh",
                "-c",
                "while true; do nc -l -p 9000 > /dev/null; done",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        return throughput("127.0.0.1", 18091)
    finally:
        subprocess.run(["docker", "rm", "-f", "sink"], env=env, capture_output=True)
        proc.terminate()
        proc.wait(60)
        subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)
        subprocess.run(["iptables-restore"], input=rules, text=True, capture_output=True)  # dockerd's rules go
        subprocess.run(["umount", "-R", str(root / "root")], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-net-"))
    agent = Agent(base)
    rows = []
    try:
        agent.start()
        image_tar(base / "busybox.tar", IMAGE)
        agent.docker("load", "-i", str(base / "busybox.tar"))
        agent.docker("network", "create", "benchnet")
        none = run_ms(agent, "none", args.runs)
        user = run_ms(agent, "benchnet", args.runs)
        rows.append(("docker run --rm true: --network none (ms)", f"{none:.1f}", ""))
        rows.append(
            (
                "docker run --rm true: user network (ms)",
                f"{user:.1f}",
                f"networking adds {user - none:.1f} ms (goal <= 15)",
            )
        )
        for port, label in ((18090, "published port (agent proxy)"), (None, "container address directly")):
            publish = ["-p", f"{port}:9000"] if port else []
            agent.docker(
                "run",
                "-d",
                "--name",
                "sink",
                *publish,
                IMAGE,
                "sh",
                "-c",
                "while true; do nc -l -p 9000 > /dev/null; done",
            )
            address = agent.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "sink").stdout.strip()
            speed = throughput("127.0.0.1", port) if port else throughput(address, 9000)
            rows.append((f"TCP into a container, {label} (MB/s)", f"{speed:.0f}", ""))
            agent.docker("rm", "-f", "sink")
        if shutil.which("dockerd"):
            rows.append(("TCP into a container, dockerd's docker-proxy (MB/s)", f"{dockerd_proxy(base):.0f}", ""))
    finally:
        agent.docker("network", "rm", "benchnet", check=False)
        agent.cleanup()
        shutil.rmtree(base, ignore_errors=True)
    for label, value, note in rows:
        print(f"{label:<50} {value:>8}   {note}")


if __name__ == "__main__":
    main()
