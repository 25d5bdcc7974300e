"""Containers: records on disk, lifecycle through the OCI runtime. (skeleton: being written)"""

from __future__ import annotations

from pathlib import Path

from .events import Events
from .imagestore import ImageStore
from .volumes import VolumeStore


class Containers:
    def __init__(self, root: Path, images: ImageStore, volumes: VolumeStore, events: Events, runtime: str):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def recover(self) -> None:
        """Re-attach to containers left running by a previous agent."""

    def image_users(self, image_id: str) -> list[str]:
        """IDs of containers created from `image_id`."""
        return []

    def volume_users(self, name: str) -> list[str]:
        """IDs of containers that mount volume `name`."""
        return []
