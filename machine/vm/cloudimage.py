"""Cloud images (e.g. Debian's official genericcloud qcow2) as the base disk of VMs, configured by cloud-init.

`ensure(cache, source)` takes a path or an http(s) URL, copies or downloads the image once into the
image cache (name: the file name without its extension) with a manifest (source, format, sha256; for a
file also its size and time, so a file replaced at the same path is copied again) and returns that folder.
Such an image boots through its own bootloader; each machine gets an overlay on it and a NoCloud seed
(cloudinit.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from . import download
from .images import ImageCache, ImageError, write_manifest

DISK = "disk.img"


def image_name(source: str) -> str:
    base = re.sub(r"\.(qcow2|img|raw)$", "", source.rstrip("/").rsplit("/", 1)[-1])
    return re.sub(r"[^A-Za-z0-9._-]", "-", base) or "cloud"


def ensure(cache: ImageCache, source: str, progress: download.Progress) -> Path:
    """The cached folder of the cloud image `source` (a path or an http(s) URL), fetched first if missing."""
    name = image_name(source)
    cached = cache.manifest(name) or {}
    if cached.get("source") == download.absolute(source) and cached.get("file") == _file(source):
        return cache.folder(name)
    with cache.replacing(name) as work:
        started = time.monotonic()
        download.fetch(source, work / DISK, "the cloud image", progress)
        info = {
            "name": name,
            "suite": "cloud image",
            "kernel": "its own",
            "source": download.absolute(source),
            **({"file": _file(source)} if not download.is_url(source) else {}),
            "format": _format(work / DISK),
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - started, 1),
        }
        write_manifest(work, info, (DISK,))
    return cache.folder(name)


def _file(source: str) -> str | None:
    """A local source's size and modification time (None for a URL, or a file that is not there)."""
    if download.is_url(source):
        return None
    try:
        st = os.stat(download.absolute(source))
    except OSError:
        return None
    return f"{st.st_size} {st.st_mtime_ns}"


def disk_format(folder: Path) -> str:
    return str(json.loads((folder / "manifest.json").read_text())["format"])


def _format(path: Path) -> str:
    result = subprocess.run(["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True)
    fmt = json.loads(result.stdout).get("format") if result.returncode == 0 else None
    if fmt not in ("qcow2", "raw"):
        raise ImageError(f"the cloud image is not a qcow2 or raw disk ({result.stderr.strip() or fmt})")
    with open(path, "rb") as f:
        if fmt == "raw" and f.read(512)[510:] != b"\x55\xaa":
            raise ImageError("the cloud image is neither qcow2 nor a bootable raw disk (no boot sector)")
    return str(fmt)
