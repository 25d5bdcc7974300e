"""The image cache: guest images built here and cloud images fetched once, a folder each under
`<store>/cache/images/<name>/` holding the image's files and a manifest.json (what it is, when it was
made, each file's sha256 and size). A folder is replaced whole, so a machine never sees half an image."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class ImageError(Exception):
    """Building, fetching or finding an image failed; the message says what to do."""


class ImageCache:
    def __init__(self, cache: Path):
        self.root = cache / "images"

    def folder(self, name: str) -> Path:
        return self.root / name

    def manifest(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.folder(name) / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def list(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        return [m for m in (self.manifest(p.name) for p in sorted(self.root.iterdir())) if m]

    def remove(self, name: str) -> None:
        if not self.folder(name).exists():
            raise ImageError(f"no image {name!r}: see `machine image ls`")
        shutil.rmtree(self.folder(name))

    @contextlib.contextmanager
    def replacing(self, name: str) -> Iterator[Path]:
        """A fresh folder to make image `name` in; it replaces the cached one once the block succeeds."""
        self.root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.root))
        try:
            yield work
            if self.folder(name).exists():
                shutil.rmtree(self.folder(name))
            os.rename(work, self.folder(name))
        finally:
            shutil.rmtree(work, ignore_errors=True)


def write_manifest(folder: Path, info: dict[str, Any], files: tuple[str, ...]) -> dict[str, Any]:
    """`info` plus the sha256 and size of each of `files`, written as the folder's manifest.json."""
    info = {
        **info,
        "files": {name: {"sha256": sha256(folder / name), "size": (folder / name).stat().st_size} for name in files},
    }
    (folder / "manifest.json").write_text(json.dumps(info, indent=1))
    return info


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()
