"""The agent as it is installed on a host: the zipapp built from guest/, where it lives (AgentLocation),
and its systemd unit, the one definition that provisioning, the guest image and the Vagrantfile install.

`python3 -m machine.agent install` installs the agent of this tree on the computer it runs on, as root
(the Vagrantfile's provisioner runs it inside the development VM). It needs only the standard library.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shlex
import subprocess
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import guest

UNIT_PATH = "/etc/systemd/system/machine-agent.service"
_MAIN = b"import sys\nfrom guest.__main__ import main\nsys.exit(main())\n"
_EPOCH = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same tree always gives the same bytes
_UNIT = """[Unit]
Description=machine agent (Docker Engine API on {socket})
After=network-online.target

[Service]
# ready once the socket answers; recovering many containers may take long
Type=notify
TimeoutStartSec=infinity
# python3 from systemd's own search path (/usr/local/bin, /usr/bin, ...; no `env` process started first);
# -E -s -S: no PYTHON* variables and no site, which the agent needs neither of (site costs 0.1 s under TCG); its
# __main__.py runs as a script, whose folder is on sys.path (-I would leave it off): running the folder itself
# imports runpy first (0.05-0.1 s under TCG)
ExecStart=python3 -E -s -S {code}/__main__.py {args}
# ahead of the rest of the boot (udev's coldplug, networkd) until it serves; then it goes back to the normal
# priority (see guest/__main__.py)
Nice=-10
Restart=on-failure
RestartSec=1
# containers outlive the agent: restarting or upgrading it stops only the agent process
KillMode=process

[Install]
WantedBy=multi-user.target
"""


def q(value: str) -> str:
    """`value` quoted for the host's shell."""
    return shlex.quote(value)


@dataclass
class AgentLocation:
    """Where the agent lives on the host. Tests point these at temporary paths."""

    socket: str = "/run/machine/agent.sock"
    root: str = "/var/lib/machine-agent"
    install_dir: str = "/usr/local/lib/machine"
    group: str = ""  # besides root, this group may use the socket (the SSH user's, when it is not root)

    @property
    def agent_args(self) -> str:
        args = f"--socket {q(self.socket)} --root {q(self.root)}"
        return args + (f" --socket-group {q(self.group)}" if self.group else "")

    @classmethod
    def from_config(cls, data: dict[str, Any] | None) -> AgentLocation:
        return cls(**{k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__})

    def to_config(self) -> dict[str, str]:
        return asdict(self)

    @property
    def artifact(self) -> str:
        """The uploaded zipapp (its digest tells whether the host has this version)."""
        return f"{self.install_dir}/agent.pyz"

    @property
    def code(self) -> str:
        """The zipapp unpacked and compiled by the host's python3, which the service runs: a zipapp's
        modules are compiled again at every start (seconds on a slow VM), these only once."""
        return f"{self.install_dir}/agent"

    @property
    def unpack_command(self) -> str:
        new = q(self.code + ".new")
        return (
            f"rm -rf {new} && python3 -m zipfile -e {q(self.artifact)} {new} && "
            f"python3 -m compileall -q {new} >/dev/null && rm -rf {q(self.code)} && mv {new} {q(self.code)}"
        )

    @property
    def unit(self) -> str:
        """The agent's systemd unit."""
        return _UNIT.format(socket=self.socket, args=self.agent_args, code=self.code)


def build() -> bytes:
    """The zipapp's bytes: run on the guest with `python3 agent.pyz --socket ... --root ...`."""
    package = Path(guest.__file__).parent
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("__main__.py", _EPOCH), _MAIN)
        for path in sorted(package.rglob("*.py")):
            info = zipfile.ZipInfo(f"guest/{path.relative_to(package).as_posix()}", _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())
    return b"#!/usr/bin/env python3\n" + buf.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fingerprint(location: AgentLocation, artifact: bytes) -> str:
    """What `install` puts on a host for `location`: the artifact and its unit (an image's manifest records it)."""
    return digest(artifact + location.unit.encode())


def version() -> str:
    return guest.__version__


def service_files(location: AgentLocation) -> dict[str, tuple[bytes, int]]:
    """Path -> (content, mode) that install this agent as an enabled systemd service; then run
    `location.unpack_command` and enable the unit."""
    return {location.artifact: (build(), 0o755), UNIT_PATH: (location.unit.encode(), 0o644)}


def install(root: Path, location: AgentLocation) -> None:
    """Write the agent's service files under `root` ("/" for this computer) and unpack the agent there."""
    for path, (content, mode) in service_files(location).items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
    chroot = [] if root == Path("/") else ["chroot", str(root)]
    subprocess.run([*chroot, "sh", "-c", location.unpack_command], check=True, capture_output=True)
    wants = root / "etc/systemd/system/multi-user.target.wants/machine-agent.service"
    wants.parent.mkdir(parents=True, exist_ok=True)
    if not wants.is_symlink():
        wants.symlink_to(UNIT_PATH)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 -m machine.agent", description=__doc__)
    parser.add_argument("command", choices=["install"])
    parser.parse_args()
    if os.geteuid() != 0:
        parser.error("installing the agent needs root")
    install(Path("/"), AgentLocation())
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    subprocess.run(["systemctl", "restart", "machine-agent"], check=True)


if __name__ == "__main__":
    main()
