"""Named and anonymous volumes: `volumes/NAME/_data` plus `volumes/NAME/meta.json`."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .errors import Conflict, InvalidInput, NotFound, Unsupported
from .files import write_json

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class VolumeStore:
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
            (self.root / name / "_data").mkdir(parents=True, exist_ok=True)
            meta = {
                "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "Labels": labels or {},
                "Options": driver_opts or {},
                "Anonymous": anonymous,
            }
            write_json(self.root / name / "meta.json", meta)
            return self._json(name, meta)

    def inspect(self, name: str) -> dict[str, Any]:
        return self._json(name, self._meta(name))

    def path(self, name: str) -> Path:
        self._meta(name)
        return self.root / name / "_data"

    def is_anonymous(self, name: str) -> bool:
        return bool(self._meta(name).get("Anonymous"))

    def all(self, filters: dict[str, list[str]], in_use: Callable[[str], list[str]]) -> list[dict[str, Any]]:
        result = []
        for entry in sorted(self.root.iterdir()):
            if not (entry / "meta.json").exists():
                continue
            volume = self.inspect(entry.name)
            if "name" in filters and not any(n in entry.name for n in filters["name"]):
                continue
            if "dangling" in filters:
                dangling = filters["dangling"][0] in ("true", "1")
                if dangling == bool(in_use(entry.name)):
                    continue
            if "label" in filters and not all(_label_match(volume["Labels"], f) for f in filters["label"]):
                continue
            result.append(volume)
        return result

    def remove(self, name: str, in_use: list[str], force: bool = False) -> None:
        self._meta(name)
        if in_use:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(in_use)}]")
        shutil.rmtree(self.root / name)

    def prune(self, all_volumes: bool, in_use: Callable[[str], list[str]]) -> tuple[list[str], int]:
        deleted, reclaimed = [], 0
        for volume in self.all({}, in_use):
            name = volume["Name"]
            if in_use(name) or not (all_volumes or self.is_anonymous(name)):
                continue
            reclaimed += sum(f.stat().st_size for f in (self.root / name).rglob("*") if f.is_file())
            shutil.rmtree(self.root / name)
            deleted.append(name)
        return deleted, reclaimed


def _label_match(labels: dict[str, str], spec: str) -> bool:
    key, sep, value = spec.partition("=")
    return key in labels and (not sep or labels[key] == value)
