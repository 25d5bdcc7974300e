"""The agent artifact: the `guest` package as one self-contained zipapp that provisioning uploads."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import guest

_MAIN = b"import sys\nfrom guest.__main__ import main\nsys.exit(main())\n"
_EPOCH = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same tree always gives the same bytes


def build() -> bytes:
    """The zipapp's bytes: run on the guest with `python3 agent.pyz --socket ... --root ...`."""
    package = Path(guest.__file__).parent
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("__main__.py", _EPOCH), _MAIN)
        for path in sorted(package.rglob("*.py")):
            info = zipfile.ZipInfo(f"guest/{path.relative_to(package).as_posix()}", _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())
    return b"#!/usr/bin/env python3\n" + buf.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def version() -> str:
    return guest.__version__
