"""Tars made as streams in bounded memory: of files and trees (`docker cp`, `docker save`, COPY layers), and the
layer of an overlayfs upper directory (its whiteouts in the AUFS form images carry).

Trees are walked through directory fds without recursion (paths.walk), and file contents leave in chunks as they
are read, so neither the depth of a tree nor the size of a file sets the memory used.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Callable

from .. import paths
from .tarsafe import OPAQUE, WHITEOUT

CHUNK = 1 << 20
_BLOCK = 512
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # O_NONBLOCK: a FIFO swapped in never blocks
_TYPES = {
    stat.S_IFDIR: tarfile.DIRTYPE,
    stat.S_IFLNK: tarfile.SYMTYPE,
    stat.S_IFCHR: tarfile.CHRTYPE,
    stat.S_IFBLK: tarfile.BLKTYPE,
    stat.S_IFIFO: tarfile.FIFOTYPE,
}

Skip = Callable[[list[str]], bool]


class TarWriter:
    """Tar entries as bytes: headers (PAX), contents, and hard links among the entries kept as links."""

    def __init__(self, owner: tuple[int, int] | None = None):
        self.owner = owner  # (uid, gid) for every entry instead of the files' own
        self._links: dict[tuple[int, int], str] = {}

    def header(self, info: tarfile.TarInfo) -> bytes:
        if self.owner is not None:
            info.uid, info.gid = self.owner
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def entry(self, parent: int, name: str, st: os.stat_result, arcname: str) -> Iterator[bytes]:
        """The file `name` in the directory fd `parent` (its lstat `st`) as `arcname`; sockets are left out."""
        info = tarfile.TarInfo(arcname)
        info.mode, info.uid, info.gid, info.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFREG:
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self._links:
                info.type, info.linkname = tarfile.LNKTYPE, self._links[key]
            else:
                if st.st_nlink > 1:
                    self._links[key] = arcname
                info.size = st.st_size
        elif kind in _TYPES:
            info.type = _TYPES[kind]
            if kind == stat.S_IFLNK:
                info.linkname = os.readlink(name, dir_fd=parent)
            elif kind in (stat.S_IFCHR, stat.S_IFBLK):
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        else:
            return
        yield self.header(info)
        if info.size:
            yield from _content(parent, name, info.size)

    def tree(
        self, parent: int, name: str, arcname: str, skip: Skip | None = None, held: Skip | None = None
    ) -> Iterator[bytes]:
        """`name` in the directory fd `parent` as `arcname` (left out when "": a tree's content only) and, when it
        is a directory, everything below it (but what `skip` refuses). Entries for which `held` is true are
        written only once something below them is."""
        prefix = arcname + "/" if arcname else ""
        waiting: list[tuple[tuple[str, ...], bytes]] = []  # held entries above the walk's position, unwritten
        for found in paths.tree(parent, name, skip):
            parts = tuple(found.parts)
            if not parts:
                if arcname:
                    yield from self.entry(found.parent, found.name, found.stat, arcname)
                continue
            while waiting and parts[: len(waiting[-1][0])] != waiting[-1][0]:
                waiting.pop()
            entry = self.entry(found.parent, found.name, found.stat, prefix + "/".join(parts))
            if held is not None and held(list(parts)):
                if stat.S_ISDIR(found.stat.st_mode):  # a held file has nothing below it: never written
                    waiting.append((parts, b"".join(entry)))
                continue
            for _, header in waiting:
                yield header
            waiting.clear()
            yield from entry

    def path(self, path: Path, arcname: str, skip: Skip | None = None, held: Skip | None = None) -> Iterator[bytes]:
        """tree() of the file or folder at `path`."""
        parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield from self.tree(parent, path.name, arcname, skip, held)
        finally:
            os.close(parent)


def _content(parent: int, name: str, size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of the file (a file that shrank meanwhile is padded with zeros), then the padding to a
    whole block."""
    left = size
    fd = os.open(name, _OPEN_FILE, dir_fd=parent)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            while left:
                data = os.read(fd, min(CHUNK, left))
                if not data:
                    break
                left -= len(data)
                yield data
    finally:
        os.close(fd)
    while left:
        zeros = min(CHUNK, left)
        left -= zeros
        yield bytes(zeros)
    yield bytes(-size % _BLOCK)


def tar_stream(pieces: Iterable[bytes], size: int = CHUNK) -> Iterator[bytes]:
    """A tar of TarWriter's pieces, in chunks of at least `size` bytes (the last one shorter, with the tar's end)."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        if len(buffer) >= size:
            yield bytes(buffer)
            buffer.clear()
    yield bytes(buffer) + bytes(2 * _BLOCK)


def tar_paths(roots: list[tuple[Path, str]]) -> Iterator[bytes]:
    """One tar holding each (path, name inside the archive) tree in turn."""
    writer = TarWriter()
    return tar_stream(piece for path, arcname in roots for piece in writer.path(path, arcname))


def layer_from_upper(upper: Path, skip: Skip | None = None) -> Iterator[bytes]:
    """A layer tar of an overlayfs upper directory (but what `skip` refuses): 0/0 character devices become
    `.wh.NAME` whiteouts and opaque directories get a `.wh..wh..opq` entry (the AUFS form that images carry)."""
    writer = TarWriter()

    def pieces() -> Iterator[bytes]:
        top = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for found in paths.walk(top, skip):
                name = "/".join(found.parts)
                st = found.stat
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    parent, _, base = name.rpartition("/")
                    yield writer.header(tarfile.TarInfo(f"{parent}/{WHITEOUT}{base}" if parent else WHITEOUT + base))
                    continue
                yield from writer.entry(found.parent, found.name, st, name)
                if stat.S_ISDIR(st.st_mode) and _opaque(found.parent, found.name):
                    yield writer.header(tarfile.TarInfo(f"{name}/{OPAQUE}"))
        finally:
            os.close(top)

    return tar_stream(pieces())


def _opaque(parent: int, name: str) -> bool:
    try:
        return os.getxattr(f"/proc/self/fd/{parent}/{name}", "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False
