"""The build cache: a step's key (parent image, instruction, sources) -> the image it made, in buildcache.json."""

from __future__ import annotations

import json
from typing import Callable

from ..files import write_json
from ..images.store import ImageStore


class BuildCache:
    """Which image each build step made, so that an unchanged step is not run again."""

    def __init__(self, images: ImageStore):
        self.images = images
        self.path = images.root / "buildcache.json"

    def entries(self) -> dict[str, str]:
        """Each step's key and the image it made."""
        try:
            cache: dict[str, str] = json.loads(self.path.read_text())
            return cache
        except (FileNotFoundError, ValueError):
            return {}

    def remember(self, key: str, image_id: str) -> None:
        with self.images.lock:
            cache = self.entries()
            cache[key] = image_id
            write_json(self.path, cache)

    def get(self, key: str) -> str | None:
        """The image of step `key`, if it is still there."""
        image_id = self.entries().get(key)
        return image_id if image_id and self.images.exists(image_id) else None

    def kept(self, users: Callable[[str], list[str]]) -> set[str]:
        """The images something besides the cache keeps: named, used by a container, or an ancestor of one that is."""
        with self.images.lock:
            kept: set[str] = set()
            for image in self.images.all():
                if image.repo_tags or image.repo_digests or users(image.id):
                    ancestor: str | None = image.id
                    while ancestor and ancestor not in kept:
                        kept.add(ancestor)
                        ancestor = self.images.parents.get(ancestor)
            return kept

    def prune(self, users: Callable[[str], list[str]]) -> tuple[list[str], int]:
        """Forget every step, and delete the step images only the cache kept: untagged, used by no container and
        no ancestor of an image that is (the steps of builds whose result is gone). (Their IDs, the bytes freed.)"""
        with self.images.lock:
            kept = self.kept(users)
            before = self.images.layers_size()
            deleted: list[str] = []
            for image_id in sorted(set(self.entries().values()) - kept):
                if self.images.exists(image_id):
                    removed = self.images.remove(image_id, True, users)
                    deleted += [entry["Deleted"] for entry in removed if "Deleted" in entry]
            self.path.unlink(missing_ok=True)
            return deleted, before - self.images.layers_size()
