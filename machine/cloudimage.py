"""Cloud images (e.g. Debian's official genericcloud qcow2) as the base disk of VMs, configured by cloud-init.

`ensure(source)` takes a path or an http(s) URL, copies or downloads the image once into
`<store>/cache/images/<name>/` (name: the file name without its extension) with a manifest (source,
format, sha256) and returns that folder. Such an image boots through its own bootloader; each machine
gets an overlay on it and a NoCloud seed (cloudinit.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .guestimage import ImageError, Progress, images_dir

DISK = "disk.img"


def image_name(source: str) -> str:
    base = re.sub(r"\.(qcow2|img|raw)$", "", source.rstrip("/").rsplit("/", 1)[-1])
    return re.sub(r"[^A-Za-z0-9._-]", "-", base) or "cloud"


def ensure(source: str, progress: Progress) -> Path:
    """The cached folder of the cloud image `source` (a path or an http(s) URL), fetched first if missing."""
    folder = images_dir() / image_name(source)
    try:
        if json.loads((folder / "manifest.json").read_text()).get("source") == _absolute(source):
            return folder
    except (OSError, ValueError):
        pass
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        started = time.monotonic()
        digest = _fetch(source, work / DISK, progress)
        fmt = _format(work / DISK)
        info = {"name": folder.name, "suite": "cloud image", "kernel": "its own", "source": _absolute(source),
                "format": fmt, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build_seconds": round(time.monotonic() - started, 1),
                "files": {DISK: {"sha256": digest, "size": (work / DISK).stat().st_size}}}
        (work / "manifest.json").write_text(json.dumps(info, indent=1))
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(work, folder)
        return folder
    finally:
        shutil.rmtree(work, ignore_errors=True)


def disk_format(folder: Path) -> str:
    return str(json.loads((folder / "manifest.json").read_text())["format"])


def _absolute(source: str) -> str:
    return source if re.match(r"https?://", source) else str(Path(source).expanduser().resolve())


def _fetch(source: str, target: Path, progress: Progress) -> str:
    """Copy or download `source` to `target`; returns its sha256."""
    digest = hashlib.sha256()
    try:
        if re.match(r"https?://", source):
            progress(f"Downloading the cloud image {source}")
            response = urllib.request.urlopen(source, timeout=60)
            total = int(response.headers.get("Content-Length") or 0)
        else:
            progress(f"Copying the cloud image {source} into the cache")
            response = open(Path(source).expanduser(), "rb")
            total = os.fstat(response.fileno()).st_size
        with response, open(target, "wb") as out:
            done, shown = 0, 0
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                digest.update(block)
                done += len(block)
                if total and done * 10 // total > shown:
                    shown = done * 10 // total
                    progress(f"  {done / 1e6:.0f} of {total / 1e6:.0f} MB")
    except urllib.error.HTTPError as e:
        raise ImageError(f"cannot fetch the cloud image {source}: HTTP {e.code} {e.reason}") from None
    except (OSError, urllib.error.URLError) as e:
        raise ImageError(f"cannot fetch the cloud image {source}: {getattr(e, 'reason', None) or e}") from None
    return "sha256:" + digest.hexdigest()


def _format(path: Path) -> str:
    result = subprocess.run(["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True)
    fmt = json.loads(result.stdout).get("format") if result.returncode == 0 else None
    if fmt not in ("qcow2", "raw"):
        raise ImageError(f"the cloud image is not a qcow2 or raw disk ({result.stderr.strip() or fmt})")
    with open(path, "rb") as f:
        if fmt == "raw" and f.read(512)[510:] != b"\x55\xaa":
            raise ImageError("the cloud image is neither qcow2 nor a bootable raw disk (no boot sector)")
    return str(fmt)
