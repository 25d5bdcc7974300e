"""Mount records of a new container: -v binds and volumes, --mount, and the image's VOLUMEs (anonymous volumes)."""

from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidInput, Unsupported
from ..volumes import VolumeStore


def container_path(path: str) -> str:
    """A mount destination, normalized; it must be absolute."""
    if not path.startswith("/"):
        raise InvalidInput(f"invalid mount path: {path!r} mount path must be absolute")
    return os.path.normpath(path)


def records(
    volumes: VolumeStore, body: dict[str, Any], host_config: dict[str, Any], image_config: dict[str, Any]
) -> list[dict[str, Any]]:
    """Mount records from -v binds, named and anonymous volumes, --mount and the image's VOLUMEs."""
    mounts: list[dict[str, Any]] = []
    taken: set[str] = set()

    def add_volume(name: str | None, dest: str, rw: bool, mode: str = "") -> None:
        volume = volumes.create(name)
        mounts.append(
            {
                "Type": "volume",
                "Name": volume["Name"],
                "Source": volume["Mountpoint"],
                "Destination": dest,
                "Driver": "local",
                "Mode": mode,
                "RW": rw,
                "Propagation": "",
                "Anonymous": name is None,
            }
        )
        taken.add(dest)

    def add_bind(source: str, dest: str, mode: str, rw: bool) -> None:
        mounts.append(
            {"Type": "bind", "Source": source, "Destination": dest, "Mode": mode, "RW": rw, "Propagation": "rprivate"}
        )
        taken.add(dest)

    for spec in host_config.get("Binds") or []:
        parts = spec.split(":")
        if len(parts) == 1:
            add_volume(None, container_path(parts[0]), True)
            continue
        source, dest, mode = parts[0], container_path(parts[1]), (parts[2] if len(parts) > 2 else "")
        rw = "ro" not in mode.split(",")
        if source.startswith("/"):
            os.makedirs(source, exist_ok=True)
            add_bind(source, dest, mode, rw)
        else:
            add_volume(source, dest, rw, mode)
    for m in host_config.get("Mounts") or []:
        kind, target = m.get("Type", "volume"), container_path(m.get("Target") or "")
        rw = not m.get("ReadOnly")
        if kind == "bind":
            if not os.path.exists(m.get("Source") or ""):
                raise InvalidInput(
                    f'invalid mount config for type "bind": bind source path does not exist: {m.get("Source")}'
                )
            add_bind(m["Source"], target, "", rw)
        elif kind == "volume":
            add_volume(m.get("Source") or None, target, rw)
        elif kind == "tmpfs":
            mounts.append(
                {"Type": "tmpfs", "Source": "", "Destination": target, "Mode": "", "RW": True, "Propagation": ""}
            )
            taken.add(target)
        else:
            raise Unsupported(f"mount type {kind!r} is not supported")
    for dest in list(body.get("Volumes") or {}) + list(image_config.get("Volumes") or {}):
        if container_path(dest) not in taken:
            add_volume(None, container_path(dest), True)
    return mounts
