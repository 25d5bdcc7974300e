"""Fetching a large file (a cloud image, a box) from a path or an http(s) URL, with progress."""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..progress import Meter
from .images import ImageError

Progress = Callable[[str], None]
_BLOCK = 1 << 20


def is_url(source: str) -> bool:
    return re.match(r"https?://", source) is not None


def absolute(source: str) -> str:
    """The source as recorded in a manifest: a URL as given, a path made absolute."""
    return source if is_url(source) else str(Path(source).expanduser().resolve())


def fetch(source: str, target: Path, what: str, progress: Progress) -> None:
    """Copy or download `source` to `target`, with a bar on a terminal (else a line every tenth of the way)."""
    response: BinaryIO
    try:
        if is_url(source):
            progress(f"Downloading {what} {source}")
            response = urllib.request.urlopen(source, timeout=60)
            total = int(response.headers.get("Content-Length") or 0)  # type: ignore[attr-defined]
        else:
            progress(f"Copying {what} {source} into the cache")
            response = open(Path(source).expanduser(), "rb")  # noqa: SIM115 (closed by the with below)
            total = os.fstat(response.fileno()).st_size
        with response, open(target, "wb") as out:
            meter, done = Meter(progress, f"  {what}", total), 0
            for block in iter(lambda: response.read(_BLOCK), b""):
                out.write(block)
                done += len(block)
                meter.update(done)
            meter.finish(done)
    except urllib.error.HTTPError as e:
        raise ImageError(f"cannot fetch {what} {source}: HTTP {e.code} {e.reason}") from None
    except (OSError, urllib.error.URLError) as e:
        raise ImageError(f"cannot fetch {what} {source}: {getattr(e, 'reason', None) or e}") from None
