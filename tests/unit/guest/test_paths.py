"""Paths inside a root: locate() against the kernel's own answer (openat2 with RESOLVE_IN_ROOT) on random trees of
folders, files and symlinks (absolute, relative, looping, `..` chains); walks and deletes of any depth."""

from __future__ import annotations

import ctypes
import errno
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guest import paths

_SYS_OPENAT2 = 437  # the same number on x86_64 and aarch64
_RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)


def _kernel(root: int, path: str, follow: bool) -> str:
    """Where the kernel resolves `path` with `root` as `/` (a host path), or the errno name it fails with."""
    how = _OpenHow(os.O_PATH | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW), 0, _RESOLVE_IN_ROOT)
    fd = _libc.syscall(_SYS_OPENAT2, root, path.encode(), ctypes.byref(how), ctypes.sizeof(how))
    if fd < 0:
        return errno.errorcode[ctypes.get_errno()]
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def _ours(root: int, root_path: str, path: str, follow: bool) -> str:
    try:
        with paths.locate(root, path, follow) as found:
            if found.lstat() is None:
                return "ENOENT"
            return root_path + (found.path if found.path != "/" else "")
    except OSError as e:
        return errno.errorcode[e.errno]


def _openat2_works() -> bool:
    with tempfile.TemporaryDirectory() as folder:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return not _kernel(fd, ".", True).startswith("E")
        finally:
            os.close(fd)


_NAMES = st.sampled_from(["a", "b", "c"])
_TARGETS = st.builds(
    lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
    st.booleans(),
    st.lists(st.sampled_from(["a", "b", "c", "..", "..", "etc"]), min_size=1, max_size=5),
)
_ENTRIES = st.lists(
    st.tuples(st.lists(_NAMES, min_size=1, max_size=3), st.sampled_from(["dir", "file", "link"]), _TARGETS),
    max_size=14,
)
_QUERIES = st.lists(
    st.tuples(st.lists(st.sampled_from(["a", "b", "c", "..", "etc"]), min_size=1, max_size=6), st.booleans()),
    min_size=1,
    max_size=8,
)


@pytest.mark.skipif(not _openat2_works(), reason="the kernel has no openat2 (Linux >= 5.6) to compare with")
@settings(max_examples=150, deadline=None)
@given(_ENTRIES, _QUERIES)
def test_locate_agrees_with_the_kernel_resolving_in_root(entries: list[tuple[list[str], str, str]], queries) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as top:
        base = Path(top).resolve()
        root_path = base / "root"
        root_path.mkdir()
        for name in ("a", "b", "c", "etc"):  # what an escape would find instead
            (base / name).mkdir()
        for parts, kind, target in entries:
            path = root_path.joinpath(*parts)
            if not path.parent.is_dir() or path.parent.is_symlink() or os.path.lexists(path):
                continue
            if kind == "dir":
                path.mkdir()
            elif kind == "file":
                path.write_text("x")
            else:
                path.symlink_to(target)
        root = os.open(root_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for parts, follow in queries:
                query = "/".join(parts)
                assert _ours(root, str(root_path), query, follow) == _kernel(root, query, follow), (query, follow)
        finally:
            os.close(root)


def test_a_link_to_etc_means_the_roots_etc(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "shadow").write_text("the root's own")
    (tmp_path / "etcl").symlink_to("/etc")
    (tmp_path / "up").symlink_to("../../../../../../..")
    assert paths.resolve(tmp_path, "etcl/shadow") == tmp_path / "etc" / "shadow"
    assert paths.resolve(tmp_path, "up/up/etc/shadow") == tmp_path / "etc" / "shadow"
    assert paths.resolve(tmp_path, "etcl", follow_last=False) == tmp_path / "etcl"
    assert paths.read(tmp_path, "/etcl/shadow") == b"the root's own"
    assert paths.resolve(tmp_path, "/") == tmp_path


def test_mount_points_lead_into_what_is_mounted_there(tmp_path: Path) -> None:
    root, volume = tmp_path / "root", tmp_path / "volume"
    (root / "data").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc" / "hosts").write_text("the container's")
    volume.mkdir()
    (volume / "file").write_text("the volume's")
    (volume / "back").symlink_to("/etc/hosts")  # absolute: back to the container's root, not the volume's
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with paths.locate(fd, "/data/file", mounts={"/data": volume}) as found:
            assert found.mount == "/data" and found.read(100) == b"the volume's"
        with paths.locate(fd, "/data/back", mounts={"/data": volume}) as found:
            assert found.path == "/etc/hosts" and found.mount == "/" and found.read(100) == b"the container's"
        with paths.locate(fd, "/data/../etc/hosts", mounts={"/data": volume}) as found:
            assert found.read(100) == b"the container's"
    finally:
        os.close(fd)


def test_loops_and_missing_parents_are_errors(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError) as loop:
        paths.resolve(tmp_path, "loop/x")
    assert loop.value.errno == errno.ELOOP
    with pytest.raises(FileNotFoundError):
        paths.resolve(tmp_path, "missing/x")
    with pytest.raises(NotADirectoryError):
        paths.resolve(tmp_path, "file/x")
    assert paths.resolve(tmp_path, "missing") == tmp_path / "missing"  # a missing last part is for the caller


def _deep(top: Path, depth: int, name: str = "d" * 40) -> None:
    """`depth` nested folders under `top` (their path far longer than PATH_MAX) with a file at the bottom."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with paths.Dirs(fd) as dirs:
            bottom = dirs.fd([name] * depth, create=True)
            os.close(os.open("file", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=bottom))
    finally:
        os.close(fd)


def test_walk_and_remove_go_any_depth_with_few_fds(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    _deep(tmp_path / "tree", 1200)
    open_before = len(os.listdir("/proc/self/fd"))
    fd = os.open(tmp_path / "tree", os.O_RDONLY | os.O_DIRECTORY)
    try:
        entries = [(len(e.parts), e.name) for e in paths.walk(fd)]
    finally:
        os.close(fd)
    assert len(entries) == 1201 and entries[-1] == (1201, "file")
    paths.rmtree(tmp_path / "tree")
    assert not (tmp_path / "tree").exists()
    assert len(os.listdir("/proc/self/fd")) == open_before


def test_walk_skips_what_it_is_told_to_and_lists_in_name_order(tmp_path: Path) -> None:
    for name in ("b/x", "a/y", "a/z", "c"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / "a" / "link").symlink_to("/etc")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        seen = ["/".join(e.parts) for e in paths.walk(fd, skip=lambda parts: parts == ["b"])]
    finally:
        os.close(fd)
    assert seen == ["a", "a/link", "a/y", "a/z", "c"]  # the link is listed, never followed


def test_remove_never_follows_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("kept")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "link").symlink_to(outside)
    paths.rmtree(tmp_path / "tree")
    assert not (tmp_path / "tree").exists() and (outside / "keep").read_text() == "kept"
    paths.rmtree(tmp_path / "missing")  # nothing to delete is no error


def test_make_dirs_makes_what_links_name_inside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "can").symlink_to(outside)  # dangling inside the root: <root>/<outside> does not exist
    (root / "up").symlink_to("../../../..")
    (root / "file").write_text("x")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert paths.make_dirs(fd, "/can/wd/deeper") == f"{outside}/wd/deeper"
        assert paths.make_dirs(fd, "up/x") == "/x"
        assert paths.make_dirs(fd, "/x") == "/x"  # there already
        with pytest.raises(NotADirectoryError):
            paths.make_dirs(fd, "/file")
        with pytest.raises(NotADirectoryError):
            paths.make_dirs(fd, "/file/below")
    finally:
        os.close(fd)
    assert os.listdir(outside) == []
    assert (root / str(outside).lstrip("/") / "wd" / "deeper").is_dir() and (root / "x").is_dir()
