#!/usr/bin/env python3
"""The agent's memory under big transfers: peak RSS growth of each operation next to the idle RSS (root).

Starts an agent on a private socket and state root, then for each operation resets the agent's peak RSS
(/proc/PID/clear_refs), runs it with the docker CLI and reads the new peak (VmHWM): `docker logs --tail 1` of a
100 MB log, `docker cp` of a 200 MB file into and out of a container, `docker save` and `docker push` of an image
with a 100 MB layer (push needs Debian's docker-registry). Goal: growth <= 10 MB each.
Usage: python3 bench/agent_memory.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine.busybox import image_tar  # noqa: E402
from tests.support.agent import IMAGE, Agent  # noqa: E402
from tests.support.memory import peak_growth_mb, status_kb  # noqa: E402
from tests.support.registry import Registry  # noqa: E402

MB = 1 << 20
GOAL_MB = 10


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        for _ in range(size // MB):
            f.write(os.urandom(MB))
    return path


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    (base / "agent").mkdir()
    image_tar(base / "busybox.tar", IMAGE)
    agent = Agent(base / "agent", ("--log-level", "info"))
    registry = None
    rows: list[tuple[str, float]] = []
    try:
        agent.start()
        assert agent.proc is not None
        pid = agent.proc.pid
        agent.docker("load", "-i", str(base / "busybox.tar"))
        agent.docker("run", "--rm", IMAGE, "true")  # what every request needs is loaded before we measure
        idle = status_kb(pid, "VmRSS") / 1024

        line = "0123456789" * 9 + "ab"
        agent.docker("run", "--name", "talker", IMAGE, "sh", "-c", f"yes {line} | head -c {70 * MB}", timeout=600)
        log = next((base / "agent" / "root" / "containers").glob("*/ctr.log"))
        rows.append(
            (
                f"docker logs --tail 1 of a {log.stat().st_size / MB:.0f} MB log",
                peak_growth_mb(pid, lambda: agent.docker("logs", "--tail", "1", "talker")),
            )
        )

        big = random_file(base / "big.bin", 200 * MB)
        agent.docker("run", "-d", "--name", "box", IMAGE, "sleep", "3600")
        rows.append(
            (
                "docker cp of a 200 MB file into a container",
                peak_growth_mb(pid, lambda: agent.docker("cp", str(big), "box:/big.bin", timeout=600)),
            )
        )
        out = base / "out.bin"
        rows.append(
            (
                "docker cp of a 200 MB file out of a container",
                peak_growth_mb(pid, lambda: agent.docker("cp", "box:/big.bin", str(out), timeout=600)),
            )
        )
        out.unlink(missing_ok=True)
        big.unlink()

        layer = base / "layer.tar"
        with tarfile.open(layer, "w") as tar:
            tar.add(random_file(base / "data.bin", 100 * MB), "data.bin")
        agent.docker("import", str(layer), "big:1", timeout=600)
        (base / "data.bin").unlink()
        rows.append(
            (
                "docker save of an image with a 100 MB layer",
                peak_growth_mb(pid, lambda: agent.docker("save", "-o", str(base / "saved.tar"), "big:1", timeout=600)),
            )
        )
        (base / "saved.tar").unlink()
        if shutil.which("docker-registry"):
            (base / "registry").mkdir()
            registry = Registry(base / "registry")
            target = f"{registry.address}/big:1"
            agent.docker("tag", "big:1", target)
            rows.append(
                (
                    "docker push of an image with a 100 MB layer",
                    peak_growth_mb(pid, lambda: agent.docker("push", target, timeout=600)),
                )
            )
    finally:
        if registry is not None:
            registry.stop()
        agent.cleanup()
        shutil.rmtree(base, ignore_errors=True)
    width = max(len(name) for name, _ in rows)
    print(f"{'agent: idle RSS (MB)':<{width}}  {idle:>8.1f}")
    print(f"{'peak RSS growth (MB), goal <= ' + str(GOAL_MB):<{width}}")
    for name, growth in rows:
        print(f"{name:<{width}}  {growth:>8.1f}  {'ok' if growth <= GOAL_MB else 'over'}")


if __name__ == "__main__":
    main()
