"""Files of the agent's state: written whole or not at all (a temp file renamed into place), and what they weigh."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import paths
from .errors import FULL, NoSpace


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Writes to `path` (or under it): a full disk becomes NoSpace naming what could not be written (as dockerd
    says it), not an [Errno 28]."""
    try:
        yield
    except OSError as e:
        if e.errno not in FULL:
            raise
        raise NoSpace(f"cannot write {e.filename or path}: no space left on device") from None


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` in one step: a reader sees the old content or the new, never a part; when the
    disk is full, the old content stays (and NoSpace says so)."""
    tmp = path.with_name(path.name + ".tmp")
    with writing(path):
        try:
            tmp.write_bytes(data.encode() if isinstance(data, str) else data)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise


def write_json(path: Path, value: Any, **options: Any) -> None:
    """write_atomic() of `value` as JSON (`options` go to json.dumps)."""
    write_atomic(path, json.dumps(value, **options))


def disk_full(path: Path) -> bool:
    """Whether the filesystem of `path` has (next to) no space left, even for root."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bfree * st.f_frsize < 1 << 20 or (st.f_files > 0 and st.f_ffree == 0)


def disk_usage(path: Path) -> int:
    """Bytes of the files under `path` as Docker counts them: sizes of everything but directories, each hard-linked
    file once, symlinks not followed; any depth (paths.walk, no recursion). A missing `path` weighs 0."""
    seen: set[int] = set()
    total = 0
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    try:
        for entry in paths.walk(top):
            st = entry.stat
            if stat.S_ISDIR(st.st_mode) or st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            total += st.st_size
    finally:
        os.close(top)
    return total
