"""Tars made as streams: of a file or tree (`docker cp`, `docker save`, COPY layers), and the layer of an overlayfs
upper directory (its whiteouts in the AUFS form images carry)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

from .tarsafe import OPAQUE, WHITEOUT


class _Pipe(io.RawIOBase):
    """A write-only file whose bytes are collected for a generator to hand out."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def tar_directory(path: Path, arcname: str) -> Iterator[bytes]:
    """Stream a tar of `path` (a file or a directory tree, symlinks kept) named `arcname` inside."""
    return tar_paths([(path, arcname)])


def tar_paths(roots: list[tuple[Path, str]], chunk: int = 1 << 20) -> Iterator[bytes]:
    """Stream one tar holding each (path, name inside the archive) tree in turn."""
    pipe = _Pipe()
    with tarfile.open(fileobj=pipe, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for root, arcname in roots:
            for source, name in _walk(root, arcname):
                _add(tar, source, name)
                if sum(map(len, pipe.chunks)) >= chunk:
                    yield pipe.take()
    yield pipe.take()


def _add(tar: tarfile.TarFile, source: Path, name: str) -> None:
    info = tar.gettarinfo(str(source), name)
    if info.isreg():
        with open(source, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def _walk(path: Path, arcname: str) -> Iterator[tuple[Path, str]]:
    yield path, arcname
    if path.is_dir() and not path.is_symlink():
        for child in sorted(os.listdir(path)):
            yield from _walk(path / child, f"{arcname}/{child}" if arcname else child)


def layer_from_upper(upper: Path) -> Iterator[bytes]:
    """A layer tar of an overlayfs upper directory: 0/0 character devices become `.wh.NAME` whiteouts and
    opaque directories get a `.wh..wh..opq` entry (the AUFS form that images carry)."""
    pipe = _Pipe()
    with tarfile.open(fileobj=pipe, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for source, name in _walk(upper, ""):
            if source == upper:
                continue
            st = os.lstat(source)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                parent, _, base = name.rpartition("/")
                info = tarfile.TarInfo(f"{parent}/{WHITEOUT}{base}" if parent else f"{WHITEOUT}{base}")
                tar.addfile(info)
                continue
            _add(tar, source, name)
            if stat.S_ISDIR(st.st_mode):
                try:
                    opaque = os.getxattr(source, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
                except OSError:
                    opaque = False
                if opaque:
                    tar.addfile(tarfile.TarInfo(f"{name}/{OPAQUE}"))
            if sum(map(len, pipe.chunks)) >= 1 << 20:
                yield pipe.take()
    yield pipe.take()
