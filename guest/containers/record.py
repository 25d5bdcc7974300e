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


class Container:
    """One container's record and its paths, with what this agent tracks of it while it runs."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data
        self.lock = threading.RLock()
        self.attach_waiters = 0  # attach calls that arrived before start, waiting for conmon
        self.attached = threading.Semaphore(0)  # released by each of them once connected
        self.failed_starts = 0  # starts that failed since this agent began (attach calls waiting for one end)
        self.exit_count = 0  # exits seen by this agent (wait?condition=next-exit)

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
