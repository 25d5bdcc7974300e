"""Tar extraction never writes outside its target: a traversal corpus, extracted into a temporary folder."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from guest import paths
from guest.errors import InvalidInput
from guest.images import tarsafe


def tar_of(*members: tuple[str, str, str]) -> bytes:
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
            info.mode = 0o755 if kind == "dir" else info.mode
            info.linkname = data
            tar.addfile(info)
    return buf.getvalue()


CORPUS = {
    "dotdot": tar_of(("file", "../escaped", "x")),
    "deep-dotdot": tar_of(("dir", "a", ""), ("file", "a/../../escaped", "x")),
    "symlink-dir-out": tar_of(("sym", "link", "../.."), ("file", "link/escaped", "x")),
    "symlink-abs-out": tar_of(("sym", "etcdir", "/etc"), ("file", "etcdir/escaped", "x")),
    "hardlink-out": tar_of(("link", "passwd", "../../../../../../etc/passwd")),
    "hardlink-abs": tar_of(("link", "passwd", "/etc/hostname")),
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


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/../x", "a/b/../../../x", "..", "a\\..\\..\\x"])
def test_member_names_that_climb_out_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInput, match="points outside the target"):
        tarsafe.extract(io.BytesIO(tar_of(("file", name, "x"))), tmp_path / "target")


def test_a_plain_tree_is_extracted_with_modes_and_links(tmp_path: Path) -> None:
    data = tar_of(("dir", "d", ""), ("file", "/d/f", "content"), ("sym", "d/link", "f"), ("link", "d/hard", "d/f"))
    written = tarsafe.extract(io.BytesIO(data), tmp_path)
    assert written == len("content")  # a leading / is dropped, as Docker does
    assert (tmp_path / "d" / "f").read_text() == "content"
    assert os.readlink(tmp_path / "d" / "link") == "f"
    assert os.stat(tmp_path / "d" / "hard").st_ino == os.stat(tmp_path / "d" / "f").st_ino


def test_garbage_is_not_a_tar(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="invalid tar archive"):
        tarsafe.extract(io.BytesIO(b"this is not a tar archive" * 40), tmp_path)


@pytest.mark.parametrize("whiteout", [".wh..", ".wh...", ".wh.", "keep/.wh..", "keep/.wh..."])
def test_whiteouts_of_dot_dotdot_or_nothing_are_refused_before_anything_is_touched(
    tmp_path: Path, whiteout: str
) -> None:
    target = tmp_path / "layer"
    (target / "keep").mkdir(parents=True)
    (target / "keep" / "file").write_text("kept")
    (tmp_path / "sibling").write_text("kept")
    with pytest.raises(InvalidInput, match="a whiteout must name a file in its folder"):
        tarsafe.extract(io.BytesIO(tar_of(("dir", "keep", ""), ("file", whiteout, ""))), target, layer=True)
    assert (target / "keep" / "file").read_text() == "kept" and (tmp_path / "sibling").read_text() == "kept"


def test_a_3000_level_tree_extracts_in_bounded_fds(tmp_path: Path) -> None:
    members = [("dir", "/".join(["d"] * depth), "") for depth in range(1, 3001)]
    members.append(("file", "/".join(["d"] * 3000 + ["bottom"]), "deep"))
    open_before = len(os.listdir("/proc/self/fd"))
    try:
        tarsafe.extract(io.BytesIO(tar_of(*members)), tmp_path / "target")
        assert len(os.listdir("/proc/self/fd")) == open_before
        assert paths.read(tmp_path / "target", "/".join(["d"] * 3000 + ["bottom"])) == b"deep"
    finally:
        paths.rmtree(tmp_path / "target")  # pytest's own clean-up recurses


def test_a_member_through_a_symlinked_folder_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"'etcdir/escaped': a folder on its path \(etcdir\) is a symlink"):
        tarsafe.extract(io.BytesIO(CORPUS["symlink-abs-out"]), tmp_path)
