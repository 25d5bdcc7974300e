"""Tar extraction never writes outside its target, through the agent (the corpus extracted directly is in
tests/unit), and layer whiteouts become overlayfs ones."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from guest.images import tarsafe
from tests.support.agent import IMAGE, Agent
from tests.unit.guest.test_tarsafe import CORPUS, tar_of


@pytest.mark.containers
def test_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    layer = tar_of(
        ("dir", "keep", ""),
        ("file", "keep/.wh.gone", ""),
        ("dir", "fresh", ""),
        ("file", "fresh/.wh..wh..opq", ""),
        ("file", "fresh/new", "n"),
    )
    tarsafe.extract(io.BytesIO(layer), tmp_path, layer=True)
    gone = os.lstat(tmp_path / "keep" / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(tmp_path / "fresh", "trusted.overlay.opaque") == b"y"
    assert (tmp_path / "fresh" / "new").read_text() == "n"


def _through_agent(agent: Agent) -> dict[str, Callable[[Path], object]]:
    return {
        "import": lambda tar: agent.docker("import", str(tar), "traversal:1", check=False),
        "load": lambda tar: agent.docker("load", "-i", str(tar), check=False),
        "cp": lambda tar: _cp_from_file(agent, tar),
    }


def _cp_from_file(agent: Agent, tar: Path) -> object:
    import subprocess

    with open(tar, "rb") as f:
        return subprocess.run(["docker", "cp", "-", "cpvictim:/tmp"], env=agent.env, stdin=f, capture_output=True)


@pytest.mark.containers
@pytest.mark.parametrize("name", sorted(CORPUS))
@pytest.mark.parametrize("via", ["import", "load", "cp"])
def test_corpus_through_the_agent(agent: Agent, tmp_path: Path, name: str, via: str) -> None:
    tar = tmp_path / f"{name}.tar"
    tar.write_bytes(CORPUS[name])
    root = agent.root
    before = {p for p in root.parent.iterdir()}
    if via == "cp":
        agent.docker("run", "-d", "--name", "cpvictim", IMAGE, "sleep", "60")
    try:
        _through_agent(agent)[via](tar)
        assert not (root.parent / "escaped").exists() and not (root / "escaped").exists()
        assert {p for p in root.parent.iterdir()} == before
        assert not Path("/etc/escaped").exists() and not Path("/escaped").exists()
        assert agent.docker("version").returncode == 0
    finally:
        if via == "cp":
            agent.docker("rm", "-f", "cpvictim")
        agent.docker("rmi", "traversal:1", check=False)
