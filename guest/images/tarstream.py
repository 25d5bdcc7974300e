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

CHUNK = 1 << 20  # the most of a file's content read (and handed out) at a time


class _TarWriter:
    """A tar made as a stream of chunks, byte for byte what tarfile writes in PAX format: each member's header,
    then a file's content a piece at a time (a file is never held whole in memory); hard links stay links."""

    def __init__(self) -> None:
        self._tar = tarfile.TarFile(fileobj=io.BytesIO(), mode="w", format=tarfile.PAX_FORMAT)  # for gettarinfo()
        self._offset = 0

    def entry(self, source: Path, name: str) -> Iterator[bytes]:
        """The member for file `source` (any kind), named `name` in the archive."""
        info = self._tar.gettarinfo(str(source), name)
        yield from self.member(info, source if info.isreg() else None)

    def member(self, info: tarfile.TarInfo, content: Path | None = None) -> Iterator[bytes]:
        """A member's header, then `info.size` bytes of `content` padded to a whole block."""
        header = info.tobuf(tarfile.PAX_FORMAT, self._tar.encoding, self._tar.errors)
        self._offset += len(header)
        yield header
        if content is None or not info.size:
            return
        with open(content, "rb") as f:
            left = info.size
            while left:
                data = f.read(min(CHUNK, left))
                if not data:
                    raise OSError(f"{content} became shorter while it was being archived")
                left -= len(data)
                yield data
        padding = -info.size % tarfile.BLOCKSIZE
        self._offset += info.size + padding
        yield tarfile.NUL * padding

    def end(self) -> bytes:
        """The end of the archive: two empty blocks, then padding to a whole record (as tarfile closes)."""
        size = self._offset + 2 * tarfile.BLOCKSIZE
        return tarfile.NUL * (2 * tarfile.BLOCKSIZE + (-size % tarfile.RECORDSIZE))


def _coalesced(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The pieces joined into chunks of about CHUNK bytes (a member's header is one small piece)."""
    pending: list[bytes] = []
    size = 0
    for piece in pieces:
        pending.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield b"".join(pending)
            pending, size = [], 0
    yield b"".join(pending)


def tar_directory(path: Path, arcname: str) -> Iterator[bytes]:
    """Stream a tar of `path` (a file or a directory tree, symlinks kept) named `arcname` inside."""
    return tar_paths([(path, arcname)])


def tar_paths(roots: list[tuple[Path, str]]) -> Iterator[bytes]:
    """Stream one tar holding each (path, name inside the archive) tree in turn."""
    return _coalesced(_members(roots))


def _members(roots: list[tuple[Path, str]]) -> Iterator[bytes]:
    tar = _TarWriter()
    for root, arcname in roots:
        for source, name in _walk(root, arcname):
            yield from tar.entry(source, name)
    yield tar.end()


def _walk(path: Path, arcname: str) -> Iterator[tuple[Path, str]]:
    yield path, arcname
    if path.is_dir() and not path.is_symlink():
        for child in sorted(os.listdir(path)):
            yield from _walk(path / child, f"{arcname}/{child}" if arcname else child)


def layer_from_upper(upper: Path) -> Iterator[bytes]:
    """A layer tar of an overlayfs upper directory: 0/0 character devices become `.wh.NAME` whiteouts and
    opaque directories get a `.wh..wh..opq` entry (the AUFS form that images carry)."""
    return _coalesced(_layer_members(upper))


def _layer_members(upper: Path) -> Iterator[bytes]:
    tar = _TarWriter()
    for source, name in _walk(upper, ""):
        if source == upper:
            continue
        st = os.lstat(source)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            parent, _, base = name.rpartition("/")
            yield from tar.member(tarfile.TarInfo(f"{parent}/{WHITEOUT}{base}" if parent else f"{WHITEOUT}{base}"))
            continue
        yield from tar.entry(source, name)
        if stat.S_ISDIR(st.st_mode):
            try:
                opaque = os.getxattr(source, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
            except OSError:
                opaque = False
            if opaque:
                yield from tar.member(tarfile.TarInfo(f"{name}/{OPAQUE}"))
    yield tar.end()
