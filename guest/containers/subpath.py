"""Volume subpaths (`--mount type=volume,src=V,dst=D,volume-subpath=S`): a file or folder inside the volume mounted
in its place, which must exist and stay inside the volume.

As moby's safepath: the subpath is checked, then opened component by component without following any symlink,
and what was opened is bind-mounted ("pinned") under the container's folder for the runtime to mount. A symlink
swapped in after the check makes the open fail; it can never point the mount outside the volume."""

from __future__ import annotations

import logging
import os
import posixpath
import stat
import subprocess
from pathlib import Path

from .. import paths
from ..images import overlay

log = logging.getLogger(__name__)
_OPEN = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def valid(subpath: str) -> bool:
    """Whether `subpath` is a relative path that stays inside the volume as written (Go's filepath.IsLocal)."""
    normal = posixpath.normpath(subpath)
    return bool(subpath) and not subpath.startswith("/") and normal != ".." and not normal.startswith("../")


def pin(volume: str, subpath: str, at: Path) -> Path:
    """Bind-mount `subpath` of the volume at `volume` onto `at` (made here) and return `at`; ValueError when it
    does not exist, leads out of the volume or changes while it is checked."""
    where = os.path.join(volume, subpath)
    base = os.path.realpath(volume)
    target = os.path.realpath(os.path.join(base, subpath))
    if target != base and not target.startswith(base + "/"):
        raise ValueError(f"cannot access path {where}: it escapes the volume {volume}")
    if not os.path.exists(target):
        raise ValueError(f"cannot access path {where}: no such file or directory")
    fd = os.open(base, _OPEN | os.O_DIRECTORY)
    try:
        for part in paths.split(os.path.relpath(target, base)):
            opened = os.open(part, _OPEN, dir_fd=fd)
            os.close(fd)
            fd = opened
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(f"{part} became a symbolic link")
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            at.mkdir(parents=True, exist_ok=True)
        else:
            at.parent.mkdir(parents=True, exist_ok=True)
            at.touch()
        mounted = subprocess.run(
            ["mount", "--no-canonicalize", "--bind", f"/proc/self/fd/{fd}", str(at)],
            pass_fds=(fd,),
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            raise OSError(mounted.stderr.strip())
    except OSError as e:
        raise ValueError(f"cannot access path {where}: it changed while it was checked ({e})") from None
    finally:
        os.close(fd)
    return at


def pinned(at: Path) -> bool:
    """Whether a pin is mounted at `at` (mountinfo says: a bind mount of the same filesystem keeps its st_dev,
    so os.path.ismount cannot tell)."""
    return at in overlay.mounted_under(at)


def unpin_all(folder: Path) -> None:
    """Unmount and remove the pins under `folder` (a container's, once it stopped). Only empty mount points are
    removed, never what a pin still shows."""
    if not folder.is_dir():
        return
    for at in folder.iterdir():
        for _ in range(2):  # a busy one is detached lazily the second time
            if pinned(at):
                subprocess.run(["umount", *([] if _ == 0 else ["-l"]), str(at)], capture_output=True)
        if pinned(at):
            log.warning("could not unmount the volume subpath at %s", at)
            continue
        try:
            at.rmdir() if at.is_dir() else at.unlink()
        except OSError as e:
            log.warning("could not delete %s: %s", at, e)
    try:
        folder.rmdir()
    except OSError:
        pass
