"""Named and anonymous volumes. (skeleton: being written)"""

from __future__ import annotations

from pathlib import Path


class VolumeStore:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
