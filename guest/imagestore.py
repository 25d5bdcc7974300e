"""Content-addressed image store. (skeleton: being written)"""

from __future__ import annotations

from pathlib import Path

from .http import not_found


class ImageStore:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def resolve(self, ref: str) -> "object":
        raise not_found(f"No such image: {ref}")
