"""`docker cp`: a path in a container as its processes see it (its symlinks followed inside its root, its volumes
and binds at their mount points), reached through directory fds so that the container cannot swap a way out."""

from __future__ import annotations

import base64
import errno
import json
import os
import stat
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any

from .. import paths, times
from ..errors import Forbidden, InvalidInput, NotFound
from ..files import writing
from ..images import tarsafe
from ..images.tarstream import TarWriter, tar_stream
from . import rootfs, subpath
from .record import Container
from .store import ContainerStore

_GO_DIR, _GO_SYMLINK = 1 << 31, 1 << 27


class ContainerPath:
    """A path opened in a container (its rootfs mounted meanwhile when the container is stopped); close() it."""

    def __init__(self, containers: ContainerStore, c: Container, path: str, follow_last: bool):
        self.c = c
        self.path = path
        self._unmount = not os.path.ismount(c.rootfs)
        if self._unmount:
            rootfs.mount(c, containers.images.get(c.data["Image"]).layers)
        try:
            root = os.open(c.rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self.found = paths.locate(root, path, follow_last, _mounts(c))
            finally:
                os.close(root)
        except OSError as e:
            self._release()
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                raise NotFound(f"Could not find the file {path} in container {c.name}") from None
            if e.errno in (errno.ELOOP, errno.EINVAL, errno.ENAMETOOLONG):
                raise InvalidInput(f"{path!r} in container {c.name}: {e.strerror}") from None
            raise

    def __enter__(self) -> ContainerPath:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.found.close()
        self._release()

    def _release(self) -> None:
        if self._unmount and not self.c.running:
            rootfs.unmount(self.c)
        self._unmount = False

    def stat(self) -> os.stat_result:
        st = self.found.lstat()
        if st is None:
            raise NotFound(f"Could not find the file {self.path} in container {self.c.name}")
        return st

    def stat_header(self, st: os.stat_result) -> str:
        """X-Docker-Container-Path-Stat: base64 JSON of the name, size, mode (Go's bits), mtime and link target."""
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            mode |= _GO_DIR
        link = ""
        if stat.S_ISLNK(st.st_mode):
            mode |= _GO_SYMLINK
            link = os.readlink(self.found.name, dir_fd=self.found.parent)
        info: dict[str, Any] = {
            "name": self.name,
            "size": st.st_size,
            "mode": mode,
            "mtime": times.utc(st.st_mtime),
            "linkTarget": link,
        }
        return base64.b64encode(json.dumps(info).encode()).decode()

    @property
    def name(self) -> str:
        return os.path.basename(self.path.rstrip("/")) or "/"

    def tar(self) -> Iterator[bytes]:
        """The file or tree as a tar, streamed; the path is closed once the stream ends or is dropped, sent or not,
        and before the archive's end goes out (a client that stops reading there finds the rootfs released)."""
        stream = self._tar()
        next(stream)  # inside its `with` now: closing the stream closes the path
        return stream

    def _tar(self) -> Iterator[bytes]:
        entries = self._entries()
        try:
            next(entries)
            yield b""
            yield from tar_stream(entries)
        finally:
            entries.close()

    def _entries(self) -> Generator[bytes, None, None]:
        with self:
            yield b""
            yield from TarWriter().tree(self.found.parent, self.found.name, self.name if self.name != "/" else ".")

    def extract(self, stream: IO[bytes], owners: bool) -> None:
        """Unpack a tar into this folder (403 on a read-only rootfs or volume, as Docker)."""
        st = self.stat()
        if not stat.S_ISDIR(st.st_mode):
            raise NotFound(f"{self.path} is not a directory in container {self.c.name}")
        mount = next((m for m in self.c.data["Mounts"] if os.path.normpath(m["Destination"]) == self.found.mount), None)
        if mount is None and self.c.data["HostConfig"].get("ReadonlyRootfs"):
            raise Forbidden("container rootfs is marked read-only")
        if mount is not None and not mount.get("RW", True):
            raise Forbidden("mounted volume is marked read-only")
        folder = self.found.open_dir()
        try:
            with writing(self.host_path()):
                tarsafe.extract_at(stream, folder, owners=owners)
        finally:
            os.close(folder)

    def host_path(self) -> Path:
        """Where it is on this host (what messages name)."""
        mount = self.found.mount
        if mount == "/":
            return Path(self.c.rootfs) / self.found.path.lstrip("/")
        return _mounts(self.c)[mount] / self.found.path[len(mount) :].lstrip("/")


def _mounts(c: Container) -> dict[str, Path]:
    """Where the container's volumes and binds are mounted, and what is mounted there (a volume subpath: its pin
    while the container runs, else the subpath resolved inside the volume)."""
    found = {}
    for number, m in enumerate(c.data["Mounts"]):
        if m["Type"] not in ("volume", "bind") or not m.get("Source"):
            continue
        source = Path(m["Source"])
        if m.get("Subpath"):
            pin = c.path / "subpaths" / str(number)
            source = pin if subpath.pinned(pin) else paths.resolve(source, m["Subpath"])
        found[os.path.normpath(m["Destination"])] = source
    return found
