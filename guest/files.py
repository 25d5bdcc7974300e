"""Files of the agent's state: written whole or not at all (a temp file renamed into place), and what they weigh."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from . import paths


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` in one step: a reader sees the old content or the new, never a part."""
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json(path: Path, value: Any, **options: Any) -> None:
    """write_atomic() of `value` as JSON (`options` go to json.dumps)."""
    write_atomic(path, json.dumps(value, **options))


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
