"""Named and anonymous volumes: `volumes/NAME/_data` plus `volumes/NAME/meta.json`."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Callable

from . import paths, times
from .errors import Conflict, InvalidInput, NoSpace, NotFound, Unsupported
from .files import disk_usage, write_json, writing

log = logging.getLogger("guest.volumes")

_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(_CHARS + "+")  # Docker's, matched whole: no `/`, `..`, NUL or newline gets through
_NAME_MAX = 255  # a folder's name


def _valid(name: object) -> bool:
    return isinstance(name, str) and len(name) <= _NAME_MAX and _NAME.fullmatch(name) is not None


def check_name(name: object) -> str:
    """`name` when it can name a volume; InvalidInput (Docker's words) otherwise."""
    if _valid(name):
        return str(name)
    if isinstance(name, str) and len(name) == 1:
        raise InvalidInput("volume name is too short, names should be at least two alphanumeric characters")
    if isinstance(name, str) and len(name) > _NAME_MAX:
        raise InvalidInput(f"volume name is too long: {name[:40]!r}... has more than {_NAME_MAX} characters")
    raise InvalidInput(
        f"{str(name)[:300]!r} includes invalid characters for a local volume name, only {_CHARS!r} are allowed. "
        f"If you intended to pass a host directory, use absolute path"
    )


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

    def _path(self, name: str) -> Path:
        """The volume's folder; a name that cannot be a volume's is not found (it never becomes a path)."""
        if not _valid(name):
            raise NotFound(f"get {str(name)[:300]}: no such volume")
        return self.root / name

    def _meta(self, name: str) -> dict[str, Any]:
        try:
            meta = json.loads((self._path(name) / "meta.json").read_text())
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"get {name}: no such volume") from None
        except ValueError:
            meta = None
        if not isinstance(meta, dict) or not all(isinstance(meta.get(k) or {}, dict) for k in ("Labels", "Options")):
            log.warning("volume %s: unreadable meta.json, shown without its labels and options", name)
            return {}
        return meta

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
        name = check_name(name or os.urandom(32).hex())
        with self.lock:
            folder = self._path(name)
            if (folder / "meta.json").exists():
                return self._json(name, self._meta(name))
            meta = {
                "CreatedAt": times.utc(),
                "Labels": labels or {},
                "Options": driver_opts or {},
                "Anonymous": anonymous,
            }
            new = not folder.exists()
            try:
                with writing(folder):
                    (folder / "_data").mkdir(parents=True, exist_ok=True)
                    write_json(folder / "meta.json", meta)
            except NoSpace:
                if new:  # no half-made volume
                    paths.discard(folder)
                raise
            return self._json(name, meta)

    def inspect(self, name: str) -> dict[str, Any]:
        return self._json(name, self._meta(name))

    def is_anonymous(self, name: str) -> bool:
        return bool(self._meta(name).get("Anonymous"))

    def all(self) -> list[dict[str, Any]]:
        found = []
        for entry in sorted(self.root.iterdir()):
            if not _valid(entry.name):
                log.warning("ignoring %s: not a volume's name", entry)
            elif (entry / "meta.json").exists():
                found.append(self.inspect(entry.name))
        return found

    def size(self, name: str) -> int:
        """Bytes of the volume's data, as Docker counts them."""
        return disk_usage(self._path(name) / "_data")

    def remove(self, name: str, in_use: list[str]) -> None:
        self._meta(name)
        if in_use:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(in_use)}]")
        paths.rmtree(self._path(name))

    def prune(self, all_volumes: bool, in_use: Callable[[str], list[str]]) -> tuple[list[str], int]:
        """Remove the unused anonymous volumes (all unused ones with `all_volumes`); (names, bytes of their data)."""
        deleted, reclaimed = [], 0
        for volume in self.all():
            name = volume["Name"]
            if in_use(name) or not (all_volumes or self.is_anonymous(name)):
                continue
            reclaimed += self.size(name)
            paths.rmtree(self._path(name))
            deleted.append(name)
        return deleted, reclaimed
