"""A container's root filesystem: the image's layers under its own upper directory, on overlayfs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .. import paths
from ..errors import InvalidInput
from ..files import disk_usage
from ..images import overlay
from .record import Container


def mount(c: Container, layers: list[Path]) -> None:
    """Mount the rootfs (no-op when it is mounted already)."""
    if not os.path.ismount(c.rootfs):
        overlay.mount(
            "the container's filesystem", c.rootfs, layers, c.path / "empty", (c.path / "upper", c.path / "work")
        )


def unmount(c: Container) -> None:
    overlay.unmount(c.rootfs)


def size_rw(c: Container) -> int:
    """Bytes the container wrote (its upper directory): Docker's SizeRw."""
    return disk_usage(c.path / "upper")


def make_workdir(c: Container) -> None:
    """Make the working directory in the rootfs before the runtime starts the process, as Docker does: resolved
    inside the rootfs (an image's link to a host folder leads to the rootfs' own), missing folders made 0755."""
    workdir = c.data["Config"].get("WorkingDir") or ""
    if not workdir:
        return
    root = os.open(c.rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        paths.make_dirs(root, workdir)
    except NotADirectoryError:
        raise InvalidInput(f"Cannot mkdir: {workdir[:300]} is not a directory") from None
    finally:
        os.close(root)


def populate_volumes(c: Container) -> None:
    """Copy the image's content at a volume's path into the volume the first time it is used (as Docker)."""
    for m in c.data["Mounts"]:
        if m["Type"] != "volume" or m.get("Populated"):
            continue
        source = Path(m["Source"])
        try:  # the image's own symlinks lead where they would in the container, never out of it
            inside = paths.resolve(c.rootfs, m["Destination"])
        except OSError:
            inside = c.rootfs / "nonexistent"
        if inside.is_dir() and not inside.is_symlink() and not any(source.iterdir()):
            subprocess.run(["cp", "-a", f"{inside}/.", str(source)], capture_output=True)
        m["Populated"] = True
    c.save()
