"""Shares: folders of the user's computer that appear inside a machine, so `docker run -v $PWD:/src` finds the
project where the CLI runs. Written LOCAL[:GUEST][:OPTIONS], OPTIONS a comma list of ro (or rw) and cached (as
`docker run -v` writes them); GUEST defaults to LOCAL's own path (on Windows `C:\\Users\\me` appears as
`/c/Users/me`, as docker-machine did), and the home folder is shared by default."""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_DRIVE = re.compile(r"[A-Za-z]:[\\/]")
# the machine's own system folders (and root's home, where its SSH key lives): a share never covers them
_SYSTEM = {
    "bin",
    "boot",
    "dev",
    "etc",
    "lib",
    "lib32",
    "lib64",
    "libx32",
    "proc",
    "root",
    "run",
    "sbin",
    "sys",
    "usr",
    "var",
}


_OPTIONS = {"ro", "rw", "cached"}


class ShareError(ValueError):
    """A share that cannot be made as written; the message says why."""


@dataclass(frozen=True)
class Share:
    local: str  # an absolute folder on the user's computer
    guest: str  # an absolute path in the machine
    readonly: bool = False
    cached: bool = False  # what the machine saw is trusted for 20 s instead of 1 (see mounts.py)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Share:
        return cls(
            str(data["local"]), str(data["guest"]), bool(data.get("readonly", False)), bool(data.get("cached", False))
        )

    def __str__(self) -> str:
        modes = [mode for mode, on in (("read-only", self.readonly), ("cached", self.cached)) if on]
        shown = f"{self.local} -> {self.guest}"
        return f"{shown} ({', '.join(modes)})" if modes else shown


def guest_path(local: str, windows: bool = sys.platform == "win32") -> str:
    """Where a local folder appears in the machine by default: the same path, a Windows drive as `/c/...`."""
    if windows:
        drive, rest = ntpath.splitdrive(local)
        return posixpath.normpath(f"/{drive.rstrip(':').lower()}/{rest.replace(chr(92), '/')}")
    return posixpath.normpath(local)


def parse(spec: str, windows: bool = sys.platform == "win32") -> Share:
    """A share from LOCAL[:GUEST][:OPTIONS]; LOCAL must be an existing folder, GUEST an absolute path."""
    drive = ""
    if windows and _DRIVE.match(spec):
        drive, spec = spec[:2], spec[2:]
    fields = spec.split(":")
    options = fields[-1].split(",") if len(fields) > 1 else []
    if options and set(options) <= _OPTIONS:
        fields.pop()
    else:
        options = []
    if len(fields) > 2 or not fields[0] or ("ro" in options and "rw" in options):
        raise ShareError(
            f"invalid share {drive + spec!r}: write it LOCAL[:GUEST][:OPTIONS], OPTIONS one or more of ro, rw and "
            f"cached, like ro,cached"
        )
    local = os.path.abspath(os.path.expanduser(drive + fields[0]))
    if not os.path.isdir(local):
        raise ShareError(f"cannot share {local}: it is not a folder on this computer")
    guest = fields[1] if len(fields) == 2 else guest_path(local, windows)
    if not guest.startswith("/") or "\0" in guest or "\n" in guest:
        raise ShareError(f"invalid share {drive + spec!r}: the path in the machine must be absolute, like /src")
    if system(guest):
        raise ShareError(f"cannot share at {guest}: it would cover the machine's own system folders; pick another path")
    return Share(local, posixpath.normpath(guest), "ro" in options, "cached" in options)


def system(guest: str) -> bool:
    """Whether `guest` is, or is in, one of the machine's system folders (or is / itself)."""
    parts = [p for p in posixpath.normpath(guest).split("/") if p]
    return not parts or parts[0] in _SYSTEM


def default() -> list[Share]:
    """The home folder, at the same path in the machine (none when that is a system folder there: root's)."""
    home = str(Path.home())
    return [] if system(guest_path(home)) else [Share(home, guest_path(home))]


def add(shares: list[Share], share: Share) -> list[Share]:
    """`shares` with `share`, replacing one at the same place in the machine; ShareError if it would sit inside
    another share or hold one (two mounts on top of each other)."""
    kept = [s for s in shares if s.guest != share.guest]
    for other in kept:
        if _under(share.guest, other.guest) or _under(other.guest, share.guest):
            raise ShareError(f"{share.guest} overlaps the share {other}: unmount that one first")
    return [*kept, share]


def _under(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")
