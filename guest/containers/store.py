"""The container records: loaded at start-up, looked up by ID, name or ID prefix, created, renamed."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import Conflict, InvalidInput, NoSpace, NotFound
from ..events import Events
from ..files import writing
from ..images.store import ImageStore
from ..network import endpoints, links
from ..network.networks import Networks
from ..volumes import VolumeStore
from . import config, confinement, mounts, names, record, resources, subpath
from .record import ZERO_TIME, Container, now_rfc3339
from .runtime import Runtime, choose

log = logging.getLogger("guest.containers")

_REMOVED = ".removed-"  # a removed container's folder, renamed out of the records before it is deleted
SAVE_AGAIN = 5.0  # seconds between attempts to save the records a full disk had no room for


class ContainerStore:
    """Every container's record, and the parts they are made of (images, volumes, networks, the runtime)."""

    def __init__(self, root: Path, images: ImageStore, volumes: VolumeStore, events: Events, runtime: str):
        self.root = root
        self.images = images
        self.volumes = volumes
        self.events = events
        self.exits = root.parent / "exits"
        root.mkdir(parents=True, exist_ok=True)
        self.runtime = Runtime(choose(runtime), root.parent / "runtime")
        self.changed = threading.Condition()  # notified whenever a container starts, stops or goes
        self._unsaved: set[Container] = set()  # records the disk had no room for (saved again later)
        self._saver: threading.Thread | None = None
        self._lock = threading.RLock()
        self._by_id: dict[str, Container] = {}
        self.leftovers: list[Path] = []  # folders without a record (recovery removes them)
        for entry in sorted(root.iterdir()):
            if entry.name.startswith(_REMOVED):
                _delete(entry)  # a removal the last agent did not finish
                continue
            try:
                data = json.loads((entry / "container.json").read_text())
            except FileNotFoundError:  # its creation (or removal) was cut short by the agent's end
                self.leftovers.append(entry)
                continue
            except (OSError, ValueError):
                data = None
            why = record.invalid(data, entry.name)
            if why:
                log.warning("ignoring %s: %s", entry, why)
            else:
                self._by_id[entry.name] = Container(entry, data)
        self.networks = Networks(root.parent / "networks", self.all)

    # -- lookup ---------------------------------------------------------------------------------
    def all(self) -> list[Container]:
        with self._lock:
            return list(self._by_id.values())

    def exists(self, c: Container) -> bool:
        """Whether `c` is still here (not removed)."""
        with self._lock:
            return c.id in self._by_id

    def get(self, ref: str) -> Container:
        with self._lock:
            if ref in self._by_id:
                return self._by_id[ref]
            name = ref.lstrip("/")
            for c in self._by_id.values():
                if c.name == name:
                    return c
            matches = [c for c in self._by_id.values() if c.id.startswith(ref)] if ref else []
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidInput(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def image_users(self, image_id: str) -> list[str]:
        return [c.id for c in self.all() if c.data["Image"] == image_id]

    def volume_users(self, name: str) -> list[str]:
        return [c.id for c in self.all() if any(m.get("Name") == name for m in c.data["Mounts"])]

    def used_ips(self, c: Container) -> set[str]:
        """Addresses held by the other running containers."""
        return {e.get("IPAddress", "") for o in self.all() if o.running and o is not c for e in o.networks.values()}

    # -- changes --------------------------------------------------------------------------------
    def notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def wait_stopped(self, c: Container, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.changed:
            while c.running:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.changed.wait(None if remaining is None else min(remaining, 3600))  # below TIMEOUT_MAX
        return True

    def emit(self, c: Container, action: str, extra: dict[str, str] | None = None) -> None:
        attrs = {
            "image": c.data["Config"].get("Image", ""),
            "name": c.name,
            **(c.data["Config"].get("Labels") or {}),
            **(extra or {}),
        }
        self.events.emit("container", action, c.id, attrs)

    # -- create, rename -------------------------------------------------------------------------
    def create(self, body: dict[str, Any], name: str | None) -> Container:
        if not isinstance(body, dict):
            raise InvalidInput("invalid container config: expected a JSON object")
        image_ref = body.get("Image")
        if not image_ref:
            raise InvalidInput("config.Image is required: which image should the container run?")
        image = self.images.resolve(image_ref)
        if name is not None and not names.VALID.fullmatch(name):
            raise InvalidInput(f"Invalid container name ({name[:300]!r}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        image_config = image.config.get("config") or {}
        cid = os.urandom(32).hex()
        container_config, host_config = config.merge(body, image_ref, image_config, cid)
        warnings = confinement.of(host_config).limits.warnings  # refuses what cannot be honoured here
        resources.adapt(host_config, resources.facts().cgroups)
        mode = host_config.get("NetworkMode") or "default"
        if mode not in ("default", "bridge", "host", "none") and not mode.startswith("container:"):
            self.networks.get(mode)  # 404 for an unknown network
        links.check(host_config, self.all())
        for extra, endpoint in ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).items():
            endpoints.check(self.networks.get(extra), endpoint or {}, body.get("MacAddress") or "")
        mount_records = mounts.records(self.volumes, body, host_config, image_config)
        with self._lock:
            name = (name or names.generate({c.name for c in self._by_id.values()})).lstrip("/")
            for other in self._by_id.values():
                if other.name == name:
                    raise Conflict(
                        f'Conflict. The container name "/{name}" is already in use by container '
                        f'"{other.id}". You have to remove (or rename) that container to be able to '
                        f"reuse that name."
                    )
            path = self.root / cid
            args = config.command(container_config)
            data = {
                "Id": cid,
                "Name": f"/{name}",
                "Created": now_rfc3339(),
                "Image": image.id,
                "Config": container_config,
                "HostConfig": host_config,
                "Mounts": mount_records,
                "RestartCount": 0,
                "NetworkingConfig": body.get("NetworkingConfig") or {},
                "ManualStop": False,
                "Path": args[0],
                "Args": args[1:],
                "State": {
                    "Status": "created",
                    "Running": False,
                    "Paused": False,
                    "Restarting": False,
                    "OOMKilled": False,
                    "Dead": False,
                    "Pid": 0,
                    "ExitCode": 0,
                    "Error": "",
                    "StartedAt": ZERO_TIME,
                    "FinishedAt": ZERO_TIME,
                },
            }
            container = Container(path, data)
            container.warnings = warnings
            try:
                with writing(path):
                    for d in ("upper", "work", "bundle/rootfs"):
                        (path / d).mkdir(parents=True)
                    container.save()
            except NoSpace:
                paths.discard(path)  # no half-made container
                raise
            self._by_id[cid] = container
        self.emit(container, "create")
        return container

    def rename(self, c: Container, new: str) -> None:
        if not names.VALID.fullmatch(new):
            raise InvalidInput(f"Invalid container name ({new[:300]!r}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        with self._lock:
            if any(o.name == new.lstrip("/") for o in self._by_id.values() if o is not c):
                raise Conflict(f'Conflict. The container name "/{new}" is already in use')
            old = c.name
            c.data["Name"] = "/" + new.lstrip("/")
            try:
                c.save()
            except NoSpace:
                c.data["Name"] = f"/{old}"
                raise
        self.emit(c, "rename", {"oldName": f"/{old}"})

    def delete_folder(self, folder: Path) -> None:
        """Delete a removed container's folder: renamed first (a removal cut short never brings it back), then
        deleted at any depth; what cannot be deleted now goes at the next start."""
        gone = folder.with_name(_REMOVED + folder.name)
        try:
            os.rename(folder, gone)
        except FileNotFoundError:
            return
        _delete(gone)

    def persist(self, c: Container) -> bool:
        """Save what happened to `c` (it started, stopped, exited): when the disk is full, the record in memory
        stays the truth and is saved again every few seconds until it is on disk. True when saved now."""
        try:
            c.save()
            return True
        except NoSpace as e:
            log.warning("container %s: %s: kept in memory, saved when there is room", c.name, e.message)
        with self._lock:
            self._unsaved.add(c)
            if self._saver is None:
                self._saver = threading.Thread(target=self._save_later, daemon=True, name="save-later")
                self._saver.start()
        return False

    def _save_later(self) -> None:
        while True:
            time.sleep(SAVE_AGAIN)
            with self._lock:
                pending = [c for c in self._unsaved if c.id in self._by_id]
                self._unsaved.clear()
            for c in pending:
                try:
                    with c.lock:
                        c.save()
                    log.info("container %s: its record is saved", c.name)
                except NoSpace:
                    with self._lock:
                        self._unsaved.add(c)
            with self._lock:
                if not self._unsaved:
                    self._saver = None
                    return

    def forget(self, c: Container) -> bool:
        """Take `c` out of the records; False when it was already gone."""
        with self._lock:
            return self._by_id.pop(c.id, None) is not None


def _delete(folder: Path) -> None:
    """Delete a container's folder, never through a volume subpath still pinned in it (its volume's files would
    go with it): such a folder is left for the next start."""
    subpath.unpin_all(folder / "subpaths")
    if (folder / "subpaths").exists():
        log.warning("%s keeps a volume subpath mounted: deleting it at the next start", folder)
        return
    paths.discard(folder)
