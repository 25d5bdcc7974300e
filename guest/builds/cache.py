"""The build cache: a step's key (parent image, instruction, sources) -> the image it made, in buildcache.json."""

from __future__ import annotations

import json

from ..files import write_json
from ..images.store import ImageStore


class BuildCache:
    def __init__(self, images: ImageStore):
        self.images = images
        self.path = images.root / "buildcache.json"

    def _entries(self) -> dict[str, str]:
        try:
            cache: dict[str, str] = json.loads(self.path.read_text())
            return cache
        except (FileNotFoundError, ValueError):
            return {}

    def remember(self, key: str, image_id: str) -> None:
        with self.images.lock:
            cache = self._entries()
            cache[key] = image_id
            write_json(self.path, cache)

    def get(self, key: str) -> str | None:
        """The image of step `key`, if it is still there."""
        image_id = self._entries().get(key)
        if image_id and (self.images.images_dir / f"{image_id[7:]}.json").exists():
            return image_id
        return None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
