#!/usr/bin/env python3
"""Registry pull against skopeo, and an unchanged rebuild, in one run (root).

Builds a ~100 MB, 4-layer image in the agent, pushes it to Debian's docker-registry on loopback, then
times `docker pull` through the agent (after removing it) against `skopeo copy` of the same image to
an OCI layout; then times an unchanged rebuild of a 10-step Dockerfile.
Usage: python3 bench/registry_build.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
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
from tests.support.registry import Registry  # noqa: E402

BIG = """FROM busybox:test
RUN dd if=/dev/urandom of=/a bs=1M count=25 2>/dev/null
RUN dd if=/dev/urandom of=/b bs=1M count=25 2>/dev/null
RUN dd if=/dev/urandom of=/c bs=1M count=25 2>/dev/null
RUN dd if=/dev/urandom of=/d bs=1M count=25 2>/dev/null
"""

TEN_STEPS = """FROM busybox:test
ENV A=1
WORKDIR /app
COPY one.txt /app/
RUN echo step > /step1
COPY two.txt /app/
RUN cat /app/one.txt /app/two.txt > /app/both
LABEL bench=yes
EXPOSE 80
CMD ["cat", "/app/both"]
"""


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    (base / "agent").mkdir()
    (base / "registry").mkdir()
    agent = Agent(base / "agent")
    registry = Registry(base / "registry")
    rows = []
    try:
        agent.start()
        image_tar(base / "busybox.tar", "busybox:test")
        agent.docker("load", "-i", str(base / "busybox.tar"))
        (base / "big").mkdir()
        (base / "big" / "Dockerfile").write_text(BIG)
        name = f"{registry.address}/bench/big:1"
        agent.docker("build", "-q", "-t", name, str(base / "big"), timeout=600)
        agent.docker("push", name, timeout=600)
        pulls, copies = [], []
        for _ in range(args.runs):
            agent.docker("rmi", name)
            agent.docker("rmi", "busybox:test")
            start = time.perf_counter()
            output = agent.docker("pull", name, timeout=600).stdout
            pulls.append(time.perf_counter() - start)
            assert output.count("Pull complete") == 5, output  # every layer really came from the registry
            agent.docker("load", "-i", str(base / "busybox.tar"))
            shutil.rmtree(base / "oci", ignore_errors=True)
            copies.append(
                timed(["skopeo", "copy", "--src-tls-verify=false", f"docker://{name}", f"oci:{base / 'oci'}:1"])
            )
        pull, copy = statistics.median(pulls), statistics.median(copies)
        rows.append(
            (
                "pull ~100 MB, 5 layers: agent / skopeo (s)",
                f"{pull:.2f} / {copy:.2f}",
                f"{pull / copy:.2f}x (goal <= 1.2x)",
            )
        )
        (base / "ten").mkdir()
        (base / "ten" / "Dockerfile").write_text(TEN_STEPS)
        (base / "ten" / "one.txt").write_text("one\n")
        (base / "ten" / "two.txt").write_text("two\n")
        agent.docker("build", "-t", "ten:1", str(base / "ten"))
        rebuilds = [timed(["docker", "build", "-t", "ten:1", str(base / "ten")], agent.env) for _ in range(5)]
        rows.append(
            ("unchanged rebuild, 10 steps (s, median of 5)", f"{statistics.median(rebuilds):.3f}", "goal < 0.5 s")
        )
    finally:
        registry.stop()
        agent.cleanup()
        shutil.rmtree(base, ignore_errors=True)
    for label, value, note in rows:
        print(f"{label:<48} {value:>14}   {note}")


if __name__ == "__main__":
    main()
