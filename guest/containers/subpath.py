"""Volume subpaths (`--mount type=volume,src=V,dst=D,volume-subpath=S`): a folder inside the volume mounted in its
place, which must exist and stay inside the volume."""

from __future__ import annotations

import os
import posixpath


def valid(subpath: str) -> bool:
    """Whether `subpath` is a relative path that stays inside the volume as written (Go's filepath.IsLocal)."""
    normal = posixpath.normpath(subpath)
    return bool(subpath) and not subpath.startswith("/") and normal != ".." and not normal.startswith("../")


def source(volume: str, subpath: str) -> str:
    """The host folder to mount: `subpath` of the volume at `volume`, its symlinks resolved, checked to exist and to
    stay inside the volume (a symlink in the volume cannot point the mount elsewhere)."""
    base = os.path.realpath(volume)
    target = os.path.realpath(os.path.join(base, subpath))
    if target != base and not target.startswith(base + "/"):
        raise ValueError(f"cannot access path {os.path.join(volume, subpath)}: it escapes the volume {volume}")
    if not os.path.exists(target):
        raise ValueError(f"cannot access path {os.path.join(volume, subpath)}: no such file or directory")
    return target
