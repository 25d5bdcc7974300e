"""The generic driver: an existing Linux host reachable over SSH. Nothing is created or destroyed."""

from __future__ import annotations

import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from . import Driver, DriverError, Settings, SSHEndpoint, State, setting


def _default_key() -> str:
    for name in ("id_ed25519", "id_ecdsa", "id_rsa"):
        path = Path.home() / ".ssh" / name
        if path.exists():
            return str(path)
    return ""


@dataclass
class GenericSettings(Settings):
    ip_address: str = setting("", "IP address or host name of the host (required)", metavar="ADDRESS")
    ssh_user: str = setting("root", "SSH user (root, or a user with password-less sudo)")
    ssh_port: int = setting(22, "SSH port")
    ssh_key: str = setting(
        "", "private key authorized on the host (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa)", metavar="PATH"
    )

    def validate(self) -> None:
        if not self.ip_address:
            raise DriverError("the generic driver needs the host's address: --generic-ip-address ADDRESS")
        if not 0 < self.ssh_port < 65536:
            raise DriverError(f"--generic-ssh-port {self.ssh_port} is not a TCP port (1-65535)")


class GenericDriver(Driver):
    name = "generic"
    description = "an existing Linux host reachable over SSH"
    settings_class = GenericSettings
    settings: GenericSettings
    needs_machine_key: ClassVar[bool] = False  # the machine uses the key the host already authorizes
    ssh_timeout: ClassVar[float] = 15.0  # the host is already up: do not wait for a boot
    state_timeout: ClassVar[float] = 5.0  # for its sshd to connect and send its banner

    def precreate_check(self) -> None:
        self.settings.ssh_key = self.settings.ssh_key or _default_key()
        if not self.settings.ssh_key:
            raise DriverError("no SSH key found: pass the key authorized on the host with --generic-ssh-key PATH")
        if not Path(self.settings.ssh_key).expanduser().is_file():
            raise DriverError(f"SSH key {self.settings.ssh_key} does not exist: check --generic-ssh-key")

    def create(self) -> None:
        """Copy the user's key into the machine folder (the machine then owns it, like docker-machine)."""
        key = Path(self.settings.ssh_key).expanduser()
        shutil.copyfile(key, self.machine.key_path)
        self.machine.key_path.chmod(0o600)
        if Path(f"{key}.pub").exists():
            shutil.copyfile(f"{key}.pub", f"{self.machine.key_path}.pub")

    def state(self) -> State:
        """Running when the host's SSH port answers (its banner, or a close: an sshd that drops connections is an
        SSH problem, not a stopped host); Stopped when it refuses or cannot be reached within `state_timeout`. A
        port that accepts and then stays silent (a hung host or sshd) is an error, not a state."""
        endpoint = self.ssh_endpoint()
        deadline = time.monotonic() + self.state_timeout
        try:
            conn = socket.create_connection((endpoint.host, endpoint.port), timeout=self.state_timeout)
        except OSError:
            return State.STOPPED
        with conn:
            try:
                conn.settimeout(max(0.001, deadline - time.monotonic()))
                conn.recv(1)
            except TimeoutError:
                raise DriverError(
                    f"{endpoint.host}:{endpoint.port} accepts connections but sent no SSH banner within "
                    f"{self.state_timeout:g}s: the host or its sshd hangs"
                ) from None
            except OSError:
                pass
        return State.RUNNING

    def ssh_endpoint(self) -> SSHEndpoint:
        return SSHEndpoint(self.settings.ip_address, self.settings.ssh_port, self.settings.ssh_user)

    def remove(self) -> None:
        """Forget the host: nothing on it is touched."""
