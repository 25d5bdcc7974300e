"""Fakes for the unit layer: a host that answers provisioning like a real one would, a connector that hands
it out, and a driver whose VM is a few fields. They stand in for SSH and VMs only; the store, the
lifecycle and provisioning under test are the real code."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers import Driver, DriverError, Settings, SSHEndpoint, State, recorded, setting
from machine.transport.ssh import SSHError, Target

SURVEY_MARK = "--machine-survey--"
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


@dataclass
class FakeHost:
    """A host as provisioning sees it: it answers the survey from its fields, keeps uploaded files, and its
    agent answers once a start or restart command has run."""

    os_release: str = DEBIAN
    lacking: list[str] = field(default_factory=list)
    systemd: bool = True
    installed: bytes = b""  # the agent artifact already on the host
    unit: str = ""
    sudo: bool = True
    group: str = "staff"
    agent_starts: bool = True
    commands: list[str] = field(default_factory=list)
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    agent_up: bool = False
    closed: bool = False

    def run(self, command: str, timeout: float = 600) -> tuple[int, str, str]:
        self.commands.append(command)
        if SURVEY_MARK in command:
            digest = f"{hashlib.sha256(self.installed).hexdigest()}  /x/agent.pyz\n" if self.installed else ""
            sections = [
                self.os_release,
                "".join(f"{need}\n" for need in self.lacking),
                "systemd\n" if self.systemd else "",
                digest,
                self.unit,
            ]
            return 0, f"\n{SURVEY_MARK}\n".join(sections), ""
        if command == "sudo -n true":
            return (0, "", "") if self.sudo else (1, "", "sudo: a password is required\n")
        if command == "id -gn":
            return 0, f"{self.group}\n", ""
        if self.agent_starts and ("machine-agent" in command or "supervisor.pid" in command):
            self.agent_up = True
        return 0, "", ""

    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None:
        self.files[path] = (data, mode)

    def agent_answers(self, socket_path: str) -> bool:
        return self.agent_up

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeConnector:
    """Hands out `host` to the lifecycle, whose SSH host key is `host_key` (what FakeDriver puts into its
    guests); a first connection without pinned keys learns it."""

    host: FakeHost
    host_key: str = "ssh-ed25519 AAAAinjected"
    reachable: bool = True
    targets: list[Target] = field(default_factory=list)  # those logged in to

    def connect(self, target: Target, timeout: float = 10.0) -> FakeHost:
        return self._reach(target)

    def wait(
        self,
        target: Target,
        timeout: float,
        learn: Callable[[str], None] | None = None,
        progress: Callable[[str], None] = lambda m: None,
    ) -> FakeHost:
        if not target.host_keys and learn is not None:
            learn(self.host_key)
        return self._reach(target)

    def _reach(self, target: Target) -> FakeHost:
        self.targets.append(target)
        if not self.reachable:
            raise SSHError(f"cannot reach {target.name} at {target.host}:{target.port}: Connection refused")
        if target.host_keys and self.host_key not in target.host_keys:
            raise SSHError(f"the SSH host key of {target.name} has changed: refusing to connect")
        return self.host


@dataclass
class FakeSettings(Settings):
    size: int = setting(1, "how big the VM is")
    fail_create: bool = recorded(False)
    ip: str = recorded("")
    user: str = recorded("root")
    running: bool = recorded(False)

    def validate(self) -> None:
        if self.size < 1:
            raise DriverError("--fake-size must be at least 1")


class FakeDriver(Driver):
    """A VM that is a few recorded fields: create gives it an address, start a new one."""

    name = "fake"
    settings_class = FakeSettings
    settings: FakeSettings
    injected_key = "ssh-ed25519 AAAAinjected"

    def create(self) -> None:
        if self.settings.fail_create:
            raise DriverError("the fake VM did not boot")
        self.settings.ip, self.settings.running = "192.0.2.10", True

    def host_public_keys(self) -> list[str]:
        return [self.injected_key]

    def start(self) -> None:
        self.settings.ip, self.settings.running = "192.0.2.11", True

    def stop(self) -> None:
        self.settings.running = False

    def kill(self) -> None:
        self.settings.running = False

    def state(self) -> State:
        return State.RUNNING if self.settings.running else State.STOPPED

    def ssh_endpoint(self) -> SSHEndpoint:
        return SSHEndpoint(self.settings.ip, 22, self.settings.user)


class LearningDriver(FakeDriver):
    """A driver that cannot put host keys into its guest: the first connection learns them."""

    name = "learning"
    needs_machine_key = False

    def host_public_keys(self) -> list[str]:
        return []

    def create(self) -> None:
        super().create()
        (self.machine.path / "ssh_key").write_text("the user's own key\n")
