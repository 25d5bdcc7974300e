"""`docker diff`: what a container changed in its filesystem, read from its overlay upper directory against its
image's layers. Kind 0 modified, 1 added, 2 deleted, as dockerd reports them."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

MODIFIED, ADDED, DELETED = 0, 1, 2
# what dockerd keeps in a container's init layer, never reported as the container's own changes
INIT_PATHS = {
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/console",
    "/proc",
    "/sys",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/etc/mtab",
    "/.dockerenv",
}


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def of(upper: Path, layers: list[Path]) -> list[dict[str, Any]]:
    """The changes (`Path`, `Kind`) of the upper directory `upper` over `layers` (bottom first), sorted by path.

    A folder the image has is reported (modified) only above a change: overlayfs copies folders up for the
    runtime's mount points too."""
    found: dict[str, int] = {}
    for directory, folders, files in os.walk(upper):
        for name in folders + files:
            full = Path(directory, name)
            relative = "/" + str(full.relative_to(upper))
            st = full.lstat()
            in_image = lower_has(layers, relative)
            if relative in INIT_PATHS and not in_image:
                continue
            if _whiteout(st):
                found[relative] = DELETED
            elif not in_image:
                found[relative] = ADDED
            elif not stat.S_ISDIR(st.st_mode):
                found[relative] = MODIFIED
    for path in list(found):
        parent = os.path.dirname(path)
        while parent != "/" and parent not in found:
            found[parent] = MODIFIED
            parent = os.path.dirname(parent)
    return [{"Path": path, "Kind": kind} for path, kind in sorted(found.items())]


def lower_has(layers: list[Path], relative: str) -> bool:
    """Whether the image's layers have `relative` (the topmost layer that says anything about it decides)."""
    for layer in reversed(layers):
        candidate = layer / relative.lstrip("/")
        try:
            st = candidate.lstat()
        except OSError:
            continue
        return not _whiteout(st)
    return False
