"""Overlay mounts of an image's layers: read-only (COPY --from, --chown lookups in a build) or with a writable
upper directory (a container's rootfs)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from ..errors import SystemFailure

_MAX_OPTIONS = 3000  # the mount data page limit


def mount(what: str, target: Path, layers: list[Path], empty: Path, writable: tuple[Path, Path] | None = None) -> None:
    """Mount `layers` (bottom first) at `target`; with `writable` (upper, work) directories, a writable mount.
    `empty` is an empty folder to stand in for missing lower layers (overlayfs wants one, or two when read-only).
    Errors name `what` was being mounted."""
    lower = [str(p) for p in reversed(layers)]
    if writable is None or not lower:
        empty.mkdir(parents=True, exist_ok=True)
        lower.append(str(empty))
    options = f"lowerdir={':'.join(lower)}"
    if writable is not None:
        upper, work = writable
        options += f",upperdir={upper},workdir={work}"
    if len(options) > _MAX_OPTIONS:
        raise SystemFailure(f"mounting {what} failed: the image has too many layers to mount")
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(target)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemFailure(f"mounting {what} failed: {result.stderr.strip()}")


def unmount(target: Path) -> None:
    """Unmount `target` if it is mounted (lazily when it is busy)."""
    if os.path.ismount(target):
        subprocess.run(["umount", str(target)], capture_output=True)
        if os.path.ismount(target):
            subprocess.run(["umount", "-l", str(target)], capture_output=True)


def mounted_under(folder: Path) -> list[Path]:
    """The mount points at or below `folder` (this mount namespace's), deepest first."""
    prefix = str(folder)
    with open("/proc/self/mountinfo", "rb") as f:  # octal escapes (\\040 for a space) decoded, bytes kept
        points = [re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), line.split()[4]) for line in f]
    found = [os.fsdecode(p) for p in points]
    return [Path(p) for p in sorted(found, key=len, reverse=True) if p == prefix or p.startswith(prefix + "/")]
