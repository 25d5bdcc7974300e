"""`docker cp`: paths inside a container resolved safely (symlinks stay inside its root), and volumes mapped."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import posixpath
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import times
from ..errors import NotFound
from ..images.tarstream import tar_directory
from . import rootfs
from .record import Container
from .store import ContainerStore

_GO_DIR, _GO_SYMLINK = 1 << 31, 1 << 27


def _clamp(root: Path, path: str, follow_last: bool) -> Path:
    """`path` inside `root`, following symlinks as the container would see them, never leaving `root`."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink() and (parts or follow_last):
            hops += 1
            if hops > 40:
                raise NotFound(f"too many levels of symbolic links: {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


@contextlib.contextmanager
def host_path(containers: ContainerStore, c: Container, path: str, follow_last: bool = False) -> Iterator[Path]:
    """Where container path `path` is on the host (its volume or bind source, or in the rootfs)."""
    path = posixpath.normpath("/" + path.lstrip("/"))
    for m in sorted(c.data["Mounts"], key=lambda m: len(m["Destination"]), reverse=True):
        dest = m["Destination"]
        if m["Type"] in ("volume", "bind") and (path == dest or path.startswith(dest.rstrip("/") + "/")):
            yield _clamp(Path(m["Source"]), path[len(dest) :], follow_last)
            return
    mounted_here = False
    if not os.path.ismount(c.rootfs):
        rootfs.mount(c, containers.images.get(c.data["Image"]).layers)
        mounted_here = True
    try:
        yield _clamp(c.rootfs, path, follow_last)
    finally:
        if mounted_here and not c.running:
            rootfs.unmount(c)


def tar_of(containers: ContainerStore, c: Container, path: str, name: str) -> Iterator[bytes]:
    """A tar of container path `path` named `name`, a chunk at a time (a stopped container's rootfs stays mounted
    until the stream ends or is closed)."""
    with host_path(containers, c, path) as target:
        yield from tar_directory(target, name)


def stat_header(target: Path, name: str) -> str:
    st = target.lstat()
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        mode |= _GO_DIR
    link = ""
    if stat.S_ISLNK(st.st_mode):
        mode |= _GO_SYMLINK
        link = os.readlink(target)
    info: dict[str, Any] = {
        "name": name,
        "size": st.st_size,
        "mode": mode,
        "mtime": times.utc(st.st_mtime),
        "linkTarget": link,
    }
    return base64.b64encode(json.dumps(info).encode()).decode()
