"""Named and anonymous volumes: `volumes/NAME/_data` plus `volumes/NAME/meta.json`."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any, Callable

from . import times
from .errors import Conflict, InvalidInput, NoSpace, NotFound, Unsupported
from .files import disk_usage, write_json, writing

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class VolumeStore:
    """The volumes under `volumes/`, by name."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def _json(self, name: str, meta: dict[str, Any]) -> dict[str, Any]:
        return {
            "Name": name,
            "Driver": "local",
            "Mountpoint": str(self.root / name / "_data"),
            "CreatedAt": meta.get("CreatedAt", ""),
            "Labels": meta.get("Labels") or {},
            "Scope": "local",
            "Options": meta.get("Options") or {},
        }

    def _meta(self, name: str) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads((self.root / name / "meta.json").read_text())
            return meta
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"get {name}: no such volume") from None
        except ValueError:
            return {}

    def create(
        self,
        name: str | None = None,
        labels: dict[str, str] | None = None,
        driver_opts: dict[str, str] | None = None,
        driver: str = "local",
    ) -> dict[str, Any]:
        """Create a volume (anonymous when `name` is None); an existing name is returned unchanged."""
        if driver not in ("local", ""):
            raise Unsupported(f"volume driver {driver!r} is not supported (only local)")
        anonymous = name is None
        name = name or os.urandom(32).hex()
        if not _NAME.match(name):
            raise InvalidInput(f"invalid volume name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        with self.lock:
            if (self.root / name / "meta.json").exists():
                return self._json(name, self._meta(name))
            meta = {
                "CreatedAt": times.utc(),
                "Labels": labels or {},
                "Options": driver_opts or {},
                "Anonymous": anonymous,
            }
            folder = self.root / name
            new = not folder.exists()
            try:
                with writing(folder):
                    (folder / "_data").mkdir(parents=True, exist_ok=True)
                    write_json(folder / "meta.json", meta)
            except NoSpace:
                if new:  # no half-made volume
                    shutil.rmtree(folder, ignore_errors=True)
                raise
            return self._json(name, meta)

    def inspect(self, name: str) -> dict[str, Any]:
        return self._json(name, self._meta(name))

    def is_anonymous(self, name: str) -> bool:
        return bool(self._meta(name).get("Anonymous"))

    def all(self) -> list[dict[str, Any]]:
        return [self.inspect(entry.name) for entry in sorted(self.root.iterdir()) if (entry / "meta.json").exists()]

    def remove(self, name: str, in_use: list[str]) -> None:
        self._meta(name)
        if in_use:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(in_use)}]")
        shutil.rmtree(self.root / name)

    def prune(self, all_volumes: bool, in_use: Callable[[str], list[str]]) -> tuple[list[str], int]:
        """Remove the unused anonymous volumes (all unused ones with `all_volumes`); (names, bytes of their data)."""
        deleted, reclaimed = [], 0
        for volume in self.all():
            name = volume["Name"]
            if in_use(name) or not (all_volumes or self.is_anonymous(name)):
                continue
            reclaimed += disk_usage(self.root / name / "_data")
            shutil.rmtree(self.root / name)
            deleted.append(name)
        return deleted, reclaimed
