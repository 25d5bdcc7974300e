"""Files of the agent's state: written whole or not at all (a temp file renamed into place)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


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
