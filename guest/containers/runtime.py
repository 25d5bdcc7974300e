"""The OCI runtime: crun by default, runc where crun cannot run (cgroups in hybrid mode)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger("guest.runtime")


class OCIRuntimeError(Exception):
    """The OCI runtime (or conmon) refused or failed: the message is its own."""

    pass


def _hybrid_cgroups() -> bool:
    """cgroup v1 with a cgroup2 hierarchy that has controllers at /sys/fs/cgroup/unified: crun refuses it."""
    try:
        return bool(Path("/sys/fs/cgroup/unified/cgroup.controllers").read_text().split())
    except OSError:
        return False


def choose(wanted: str = "auto") -> str:
    """The runtime binary to use; `auto` is crun unless it cannot work here, then runc."""
    if wanted != "auto":
        path = shutil.which(wanted)
        if not path:
            raise OCIRuntimeError(f"OCI runtime {wanted} is not installed")
        return path
    crun, runc = shutil.which("crun"), shutil.which("runc")
    if crun and not _hybrid_cgroups():
        return crun
    if runc:
        if crun:
            log.info("crun does not support cgroups in hybrid mode here: using runc")
        return runc
    if crun:
        return crun
    raise OCIRuntimeError("no OCI runtime found: install crun or runc")


class Runtime:
    """Calls to the runtime binary with the agent's own state root."""

    def __init__(self, binary: str, state: Path):
        self.binary = binary
        self.state = state
        state.mkdir(parents=True, exist_ok=True)

    @property
    def name(self) -> str:
        return Path(self.binary).name

    def args(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.state), *args]

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.args(*args), capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise OCIRuntimeError((result.stderr or result.stdout).strip() or f"{self.name} {args[0]} failed")
        return result

    def pids(self, cid: str) -> list[int]:
        """The host PIDs of the container's processes (none when the runtime does not know it)."""
        listed = self.run("ps", "--format", "json", cid, check=False)
        try:
            return [int(p) for p in json.loads(listed.stdout or "[]") or []]
        except (ValueError, TypeError):
            return []

    def containers(self) -> dict[str, str]:
        """Every container the runtime holds under its state root: {ID: status (created, running, stopped...)}."""
        listed = self.run("list", "--format", "json", check=False)
        try:
            return {str(c["id"]): str(c.get("status", "")) for c in json.loads(listed.stdout or "null") or []}
        except (ValueError, TypeError, KeyError):
            log.warning("cannot read the runtime's list of containers: %s", listed.stdout[:200])
            return {}

    def kill(self, cid: str, signal: str) -> None:
        self.run("kill", cid, signal)

    def delete(self, cid: str) -> None:
        self.run("delete", "--force", cid, check=False)
