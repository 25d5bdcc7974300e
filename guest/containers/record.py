"""One container's record: Docker-shaped (inspect is mostly a copy), saved as `containers/<id>/container.json`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .. import times
from ..files import write_json

ZERO_TIME = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    return times.utc(precise=True)


_FIELDS: dict[str, type] = {
    "Id": str,
    "Name": str,
    "Created": str,
    "Image": str,
    "Config": dict,
    "HostConfig": dict,
    "Mounts": list,
    "RestartCount": int,
    "State": dict,
}
_STATE_FIELDS: dict[str, type] = {"Status": str, "ExitCode": int, "FinishedAt": str}


def invalid(data: object, folder: str) -> str:
    """Why `data` cannot be the record kept in the container folder `folder` ("" when it can): the fields the agent
    reads without looking must have their types, and the ID must be the folder's name (it names paths)."""
    if not isinstance(data, dict):
        return "no readable container.json"
    state = data.get("State")
    for where, fields, record in (("", _FIELDS, data), ("State.", _STATE_FIELDS, state or {})):
        for key, kind in fields.items():
            if not isinstance(record.get(key), kind):
                return f"{where}{key} is not a {kind.__name__}"
    if data["Id"] != folder:
        return f"its Id {data['Id'][:80]!r} is not its folder's name"
    if not all(isinstance(m, dict) and isinstance(m.get("Type"), str) for m in data["Mounts"]):
        return "Mounts holds an entry that is not a mount"
    if not isinstance(data.get("NetworkSettings") or {}, dict):
        return "NetworkSettings is not an object"
    return ""


class Container:
    """One container's record and its paths, with what this agent tracks of it while it runs."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data
        self.lock = threading.RLock()
        self.attach_waiters = 0  # attach calls that arrived before start, waiting for conmon
        self.attached = threading.Semaphore(0)  # released by each of them once connected
        self.failed_starts = 0  # starts that failed since this agent began (attach calls waiting for one end)
        self.warnings: list[str] = []  # what creating it warned about (honoured, but worth telling the client)

    @property
    def id(self) -> str:
        return str(self.data["Id"])

    @property
    def name(self) -> str:
        return str(self.data["Name"]).lstrip("/")

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.data["State"]
        return state

    @property
    def running(self) -> bool:
        return self.state["Status"] in ("running", "paused")

    @property
    def restarting(self) -> bool:
        """Exited, and waiting for the restart its policy gives it (dockerd counts it as running)."""
        return bool(self.state["Status"] == "restarting")

    @property
    def bundle(self) -> Path:
        return self.path / "bundle"

    @property
    def rootfs(self) -> Path:
        return self.bundle / "rootfs"

    @property
    def log_path(self) -> Path:
        return self.path / "ctr.log"

    @property
    def tty(self) -> bool:
        return bool(self.data["Config"].get("Tty"))

    @property
    def networks(self) -> dict[str, Any]:
        """The endpoints the container has now, by network name (none while it is stopped)."""
        networks: dict[str, Any] = (self.data.get("NetworkSettings") or {}).get("Networks") or {}
        return networks

    def save(self) -> None:
        write_json(self.path / "container.json", self.data)
