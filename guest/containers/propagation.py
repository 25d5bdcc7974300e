"""Bind mount propagation (`-v SRC:DST:rshared`, `--mount ...,bind-propagation=rslave`) as Docker applies it: a
shared bind needs a shared source mount, a slave one a shared or slave source, and the container's root takes a
propagation that lets them work."""

from __future__ import annotations

import os

MODES = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
DEFAULT = "rprivate"


def _source_mount(path: str) -> tuple[str, list[str]]:
    """The mount point `path` is on, and that mount's optional fields (`shared:N`, `master:N`)."""
    real = os.path.realpath(path)
    best, fields = "/", []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            point = parts[4].encode().decode("unicode_escape")
            if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, fields = point, parts[6 : parts.index("-")]
    return best, fields


def required(source: str, mode: str, root: str) -> str:
    """Check that the host lets a `mode` bind of `source` work; returns the root propagation the container then
    needs (`root` is the one already needed by other binds). ValueError with Docker's message otherwise."""
    if mode in ("private", "rprivate"):
        return root
    point, fields = _source_mount(source)
    shared = any(f.startswith("shared:") for f in fields)
    if mode in ("shared", "rshared"):
        if not shared:
            raise ValueError(f"path {source} is mounted on {point} but it is not a shared mount")
        return "shared" if root not in ("shared", "rshared") else root
    if not shared and not any(f.startswith("master:") for f in fields):
        raise ValueError(f"path {source} is mounted on {point} but it is not a shared or slave mount")
    return root or "rslave"
