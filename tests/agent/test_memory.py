"""The agent's memory under big transfers: logs, files and images pass through a chunk at a time, so its RSS
grows by at most the issue's goal however big they are."""

from __future__ import annotations

import filecmp
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent import IMAGE, Agent
from tests.support.memory import peak_growth_mb
from tests.support.registry import Registry

pytestmark = pytest.mark.containers

MB = 1 << 20
GOAL_MB = 10  # peak RSS growth of one transfer


def _pid(agent: Agent) -> int:
    assert agent.proc is not None
    return agent.proc.pid


def _random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        for _ in range(size // MB):
            f.write(os.urandom(MB))
    return path


@pytest.fixture
def big_image(agent: Agent, tmp_path: Path) -> Iterator[str]:
    """An image whose one layer holds 60 MB of random data (removed at the end)."""
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        tar.add(_random_file(tmp_path / "data.bin", 60 * MB), "data.bin")
    agent.docker("import", str(layer), "memory-big:1", timeout=300)
    layer.unlink()
    try:
        yield "memory-big:1"
    finally:
        agent.docker("rmi", "-f", "memory-big:1", check=False)


def test_logs_tail_reads_the_end_of_a_big_log(agent: Agent) -> None:
    line = "0123456789" * 9 + "ab"
    agent.docker("run", "--name", "memory-talker", IMAGE, "sh", "-c", f"yes {line} | head -c {60 * MB}", timeout=600)
    try:
        tails: list[str] = []
        growth = peak_growth_mb(
            _pid(agent), lambda: tails.append(agent.docker("logs", "--tail", "1", "memory-talker").stdout)
        )
        assert tails[0] and line.startswith(tails[0].rstrip("\n"))
        assert growth <= GOAL_MB, growth
    finally:
        agent.docker("rm", "-f", "memory-talker", check=False)


def test_cp_streams_a_big_file_both_ways(agent: Agent, tmp_path: Path) -> None:
    big = _random_file(tmp_path / "big.bin", 150 * MB)
    back = tmp_path / "back.bin"
    agent.docker("run", "-d", "--name", "memory-box", IMAGE, "sleep", "3600")
    try:
        into = peak_growth_mb(_pid(agent), lambda: agent.docker("cp", str(big), "memory-box:/big.bin", timeout=600))
        out = peak_growth_mb(_pid(agent), lambda: agent.docker("cp", "memory-box:/big.bin", str(back), timeout=600))
        assert filecmp.cmp(big, back, shallow=False)
        assert into <= GOAL_MB and out <= GOAL_MB, (into, out)
    finally:
        agent.docker("rm", "-f", "memory-box", check=False)


def test_save_streams_a_big_layer(agent: Agent, big_image: str, tmp_path: Path) -> None:
    saved = tmp_path / "saved.tar"
    growth = peak_growth_mb(_pid(agent), lambda: agent.docker("save", "-o", str(saved), big_image, timeout=600))
    with tarfile.open(saved) as tar:
        assert "manifest.json" in tar.getnames() and saved.stat().st_size > 60 * MB
    assert growth <= GOAL_MB, growth


def test_push_streams_a_big_layer(agent: Agent, big_image: str, registry: Registry) -> None:
    target = f"{registry.address}/memory/big:1"
    agent.docker("tag", big_image, target)
    try:
        growth = peak_growth_mb(_pid(agent), lambda: agent.docker("push", target, timeout=600))
        assert growth <= GOAL_MB, growth
    finally:
        agent.docker("rmi", target, check=False)
