"""Tar extraction never writes outside its target: a traversal corpus, directly and through the agent."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from guest.errors import InvalidInput
from guest.images import tarsafe
from tests.support.agent import IMAGE, Agent


def _tar(*members: tuple[str, str, str]) -> bytes:
    """(type, name, data-or-linkname) -> a tar: type is file, dir, sym or link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data.encode()))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE}[kind]
            info.linkname = data
            tar.addfile(info)
    return buf.getvalue()


CORPUS = {
    "dotdot": _tar(("file", "../escaped", "x")),
    "deep-dotdot": _tar(("dir", "a", ""), ("file", "a/../../escaped", "x")),
    "symlink-dir-out": _tar(("sym", "link", "../.."), ("file", "link/escaped", "x")),
    "symlink-abs-out": _tar(("sym", "etcdir", "/etc"), ("file", "etcdir/escaped", "x")),
    "hardlink-out": _tar(("link", "passwd", "../../../../../../etc/passwd")),
    "hardlink-abs": _tar(("link", "passwd", "/etc/hostname")),
}


def _outside_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["sentinel", "target"]
    assert (outside / "sentinel").read_text() == "untouched"


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_is_refused_or_contained(tmp_path: Path, name: str) -> None:
    outside = tmp_path / "outside"
    target = outside / "target"
    target.mkdir(parents=True)
    (outside / "sentinel").write_text("untouched")
    try:
        tarsafe.extract(io.BytesIO(CORPUS[name]), target)
    except InvalidInput:  # refused with a clear error (400); either way nothing is written outside
        pass
    _outside_untouched(outside)
    assert not Path("/etc/escaped").exists()
    passwd = target / "passwd"
    if passwd.exists():  # a contained hard link can only point inside the target
        assert os.stat(passwd).st_ino != os.stat("/etc/passwd").st_ino


@pytest.mark.containers
def test_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    layer = _tar(
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
