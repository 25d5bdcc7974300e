"""The machine store: `machines/NAME/config.json` plus the machine's key, one folder per machine, under
`$MACHINE_STORAGE_PATH` (default: the platform's user data folder); `cache/` beside them is shared.

Writes are atomic (temp file, fsync, rename) and keep the previous version as `config.json.bak`;
a per-machine lock file serialises commands that change a machine; files are 0600, folders 0700.
A config.json that cannot be read makes only that machine unusable, with a hint how to repair it.
config.json says which version of its format it is in: an older one is migrated when it is read
(and written in the current format at the next save), a newer one is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import platformdirs

from drivers import MachineDir

from .agent import AgentLocation
from .sharing.shares import Share
from .transport.ssh import Target

CONFIG = "config.json"
VERSION = 2  # of config.json's format
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}")  # matched whole (no "$": it passes "dev\n")


def default_root() -> Path:
    """`$MACHINE_STORAGE_PATH`, else the platform's user data folder (not created here)."""
    configured = os.environ.get("MACHINE_STORAGE_PATH")
    return Path(configured).expanduser() if configured else Path(platformdirs.user_data_dir("machine"))


def _v1_to_v2(data: dict[str, Any]) -> None:
    """Version 1 kept host keys a driver injected twice, in the driver's settings and in `ssh.host_keys`:
    the pinned ones in `ssh.host_keys` stay."""
    data["driver"].get("settings", {}).pop("host_keys", None)


MIGRATIONS: dict[int, Callable[[dict[str, Any]], None]] = {1: _v1_to_v2}  # version -> step to the next


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A config.json document in the current format (changed in place)."""
    version = data.get("version", 1)
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"its version {version!r} is not a format version")
    if version > VERSION:
        raise NewerFormat(
            f"it was written by a newer version of machine (format {version}, this one reads up "
            f"to {VERSION}): upgrade machine"
        )
    while version < VERSION:
        MIGRATIONS[version](data)
        version += 1
    data["version"] = VERSION
    return data


class StoreError(Exception):
    """A store problem the user can act on; the message says how."""


class CorruptConfig(StoreError):
    pass


class NewerFormat(StoreError):
    pass


@dataclass
class Machine:
    """One machine's record, as saved in config.json."""

    name: str
    driver: str
    driver_settings: dict[str, Any] = field(default_factory=dict)
    ssh_host: str = ""
    ssh_port: int = 22
    ssh_user: str = "root"
    host_keys: list[str] = field(default_factory=list)
    state: str = "creating"
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    agent: dict[str, Any] = field(default_factory=dict)
    shares: list[Share] = field(default_factory=list)  # folders of this computer mounted in the machine
    folder: Path = field(default=Path(), compare=False, repr=False)
    cache: Path = field(default=Path(), compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("folder")
        data.pop("cache")
        return {
            "version": VERSION,
            "name": data.pop("name"),
            "driver": {"name": data.pop("driver"), "settings": data.pop("driver_settings")},
            "ssh": {
                "host": data.pop("ssh_host"),
                "port": data.pop("ssh_port"),
                "user": data.pop("ssh_user"),
                "host_keys": data.pop("host_keys"),
            },
            **data,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path, cache: Path) -> Machine:
        data = migrate(data)
        driver, ssh = data["driver"], data.get("ssh", {})
        return cls(
            name=data["name"],
            driver=driver["name"],
            driver_settings=dict(driver.get("settings", {})),
            ssh_host=ssh.get("host", ""),
            ssh_port=int(ssh.get("port", 22)),
            ssh_user=ssh.get("user", "root"),
            host_keys=list(ssh.get("host_keys", [])),
            state=data.get("state", "error"),
            created=data.get("created", ""),
            agent=dict(data.get("agent", {})),
            shares=[Share.from_json(share) for share in data.get("shares", [])],
            folder=folder,
            cache=cache,
        )

    @property
    def dir(self) -> MachineDir:
        return MachineDir(self.name, self.folder, self.cache)

    @property
    def ssh_target(self) -> Target:
        """How to reach the machine over SSH, with its pinned host keys."""
        return Target(self.name, self.ssh_host, self.ssh_port, self.ssh_user, self.dir.key_path, self.host_keys)

    @property
    def agent_location(self) -> AgentLocation:
        return AgentLocation.from_config(self.agent.get("location"))


def _write_private(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data` (0600), fsynced, keeping the old version as `path`.bak."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            backup_tmp = path.with_name(f".{path.name}.bak.tmp")
            shutil.copy2(path, backup_tmp)
            os.replace(backup_tmp, path.with_name(f"{path.name}.bak"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)


class Store:
    """All machines under one storage root."""

    def __init__(self, root: Path | None = None):
        self.root = root or default_root()
        self.machines = self.root / "machines"
        self.cache = self.root / "cache"  # shared by all machines: guest images, downloads

    def folder(self, name: str) -> Path:
        return self.machines / name

    def names(self) -> list[str]:
        if not self.machines.is_dir():
            return []
        return sorted(p.name for p in self.machines.iterdir() if p.is_dir() and not p.name.startswith("."))

    def exists(self, name: str) -> bool:
        return self.folder(name).is_dir()

    def reserve(self, name: str) -> Path:
        """Create the folder of a new machine; exactly one of concurrent creators of `name` succeeds."""
        if not _NAME.fullmatch(name):
            raise StoreError(
                f"invalid machine name {name!r}: use letters, digits, '.', '_' and '-' "
                f"(starting with a letter or digit, at most 63 characters)"
            )
        self.machines.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        os.chmod(self.machines, 0o700)
        folder = self.folder(name)
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            raise StoreError(
                f"machine {name!r} already exists: pick another name, or remove it first (machine rm {name})"
            ) from None
        return folder

    def load(self, name: str) -> Machine:
        folder = self.folder(name)
        path = folder / CONFIG
        if not folder.is_dir():
            raise StoreError(f"machine {name!r} does not exist: see `machine ls`")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise CorruptConfig(f"{path} is missing (an interrupted create?): run `machine rm -f {name}`") from None
        try:
            data = json.loads(raw)
            if data.get("name") != name:
                raise ValueError(f"it names machine {data.get('name')!r}")
            return Machine.from_json(data, folder, self.cache)
        except NewerFormat as e:
            raise StoreError(f"cannot use machine {name!r}: {path} {e}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            hint = (
                f"restore the previous version with `cp {path}.bak {path}`"
                if (folder / f"{CONFIG}.bak").exists()
                else f"remove it with `machine rm -f {name}`"
            )
            raise CorruptConfig(f"{path} is corrupt ({e}): {hint}") from None

    def save(self, machine: Machine) -> None:
        machine.folder, machine.cache = self.folder(machine.name), self.cache
        _write_private(machine.folder / CONFIG, json.dumps(machine.to_json(), indent=2).encode() + b"\n")

    def remove(self, name: str) -> None:
        shutil.rmtree(self.folder(name), ignore_errors=True)

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = 120) -> Iterator[None]:
        """Hold the machine's lock (other `machine` commands changing it wait, up to `timeout`)."""
        path = self.folder(name) / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock_fd(fd, name, timeout)
            yield
        finally:
            os.close(fd)

    # the active machine (set by `machine use`), overridden by $MACHINE_NAME
    def active(self) -> str | None:
        name = os.environ.get("MACHINE_NAME")
        if name:
            return name
        try:
            return (self.root / "active").read_text().strip() or None
        except FileNotFoundError:
            return None

    def set_active(self, name: str | None) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if name is None:
            (self.root / "active").unlink(missing_ok=True)
        else:
            _write_private(self.root / "active", f"{name}\n".encode())
            self.root.joinpath("active.bak").unlink(missing_ok=True)


def _lock_fd(fd: int, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    if sys.platform == "win32":
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
    else:
        import fcntl

        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
    raise StoreError(f"machine {name!r} is busy: another `machine` command is changing it; try again when it ends")
