"""The generic driver: an existing Linux host reachable over SSH. Nothing is created or destroyed."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from . import Driver, DriverError, SSHEndpoint, State, option


def _default_key() -> str | None:
    for name in ("id_ed25519", "id_ecdsa", "id_rsa"):
        path = Path.home() / ".ssh" / name
        if path.exists():
            return str(path)
    return None


class GenericDriver(Driver):
    name = "generic"
    description = "an existing Linux host reachable over SSH"
    ssh_timeout = 15.0  # the host is already up: do not wait for a boot
    options = [
        option("--generic-ip-address", metavar="ADDRESS", help="IP address or host name of the host (required)"),
        option("--generic-ssh-user", default="root", help="SSH user (root, or a user with password-less sudo)"),
        option("--generic-ssh-port", default=22, type=int, help="SSH port"),
        option("--generic-ssh-key", metavar="PATH",
               help="private key authorized on the host (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa)"),
    ]

    def precreate_check(self) -> None:
        if not self.settings.get("ip_address"):
            raise DriverError("the generic driver needs the host's address: --generic-ip-address ADDRESS")
        self.settings["ssh_key"] = self.settings.get("ssh_key") or _default_key()
        if not self.settings["ssh_key"]:
            raise DriverError("no SSH key found: pass the key authorized on the host with --generic-ssh-key PATH")
        if not Path(self.settings["ssh_key"]).expanduser().is_file():
            raise DriverError(f"SSH key {self.settings['ssh_key']} does not exist: check --generic-ssh-key")

    def create(self) -> None:
        """Copy the user's key into the machine folder (the machine then owns it, like docker-machine)."""
        key = Path(self.settings["ssh_key"]).expanduser()
        shutil.copyfile(key, self.machine.key_path)
        self.machine.key_path.chmod(0o600)
        if Path(f"{key}.pub").exists():
            shutil.copyfile(f"{key}.pub", f"{self.machine.key_path}.pub")

    def state(self) -> State:
        endpoint = self.ssh_endpoint()
        try:
            with socket.create_connection((endpoint.host, endpoint.port), timeout=5):
                return State.RUNNING
        except OSError:
            return State.STOPPED

    def ssh_endpoint(self) -> SSHEndpoint:
        return SSHEndpoint(self.settings["ip_address"], int(self.settings.get("ssh_port") or 22),
                           self.settings.get("ssh_user") or "root")

    def remove(self) -> None:
        """Forget the host: nothing on it is touched."""
