"""A container's root filesystem: the image's layers under its own upper directory, on overlayfs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .record import Container
from .runtime import OCIRuntimeError


def mount(c: Container, layers: list[Path]) -> None:
    """Mount the rootfs (no-op when it is mounted already)."""
    if os.path.ismount(c.rootfs):
        return
    lower = [str(p) for p in reversed(layers)]
    if not lower:
        empty = c.path / "empty"
        empty.mkdir(exist_ok=True)
        lower = [str(empty)]
    options = f"lowerdir={':'.join(lower)},upperdir={c.path / 'upper'},workdir={c.path / 'work'}"
    if len(options) > 3000:  # the mount data page limit: mount from the layers folder with short paths
        raise OCIRuntimeError("image has too many layers to mount")
    result = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(c.rootfs)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise OCIRuntimeError(f"mounting the container's filesystem failed: {result.stderr.strip()}")


def unmount(c: Container) -> None:
    if os.path.ismount(c.rootfs):
        subprocess.run(["umount", str(c.rootfs)], capture_output=True)
        if os.path.ismount(c.rootfs):
            subprocess.run(["umount", "-l", str(c.rootfs)], capture_output=True)


def populate_volumes(c: Container) -> None:
    """Copy the image's content at a volume's path into the volume the first time it is used (as Docker)."""
    for m in c.data["Mounts"]:
        if m["Type"] != "volume" or m.get("Populated"):
            continue
        source = Path(m["Source"])
        inside = c.rootfs / m["Destination"].lstrip("/")
        if inside.is_dir() and not inside.is_symlink() and not any(source.iterdir()):
            subprocess.run(["cp", "-a", f"{inside}/.", str(source)], capture_output=True)
        m["Populated"] = True
    c.save()
