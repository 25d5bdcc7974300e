"""Provisioning: install and start the agent on a host reachable over SSH, for any driver.

Steps (each idempotent, so `machine provision` re-runs safely after a failure at any step):
detect the OS, install the packages the agent needs if missing, upload the agent artifact when its
digest differs, install it as a systemd service (or a supervised background daemon where there is
no systemd), and wait for the agent to answer /_ping through the SSH connection.
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional, Protocol

import paramiko

from . import artifact
from .streamlocal import open_streamlocal

Progress = Callable[[str], None]


class ProvisionError(Exception):
    """A provisioning step failed; the message names the step and what to do next."""


class SudoRemote:
    """Provisioning as root through password-less sudo, for an SSH user that is not root."""

    def __init__(self, remote: "Remote"):
        self.remote = remote
        self.transport = remote.transport
        code, _, err = remote.run("sudo -n true")
        if code != 0:
            raise ProvisionError(f"the SSH user needs password-less sudo to install the agent ({err.strip()}): "
                                 f"allow it in /etc/sudoers.d, or connect as root")

    def run(self, command: str, timeout: float = 600) -> tuple[int, str, str]:
        return self.remote.run(f"sudo -n sh -c {_q(command)}", timeout)

    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None:
        staging = f"/tmp/.machine-{os.urandom(6).hex()}"
        self.remote.put_bytes(data, staging, mode)
        _check(self, f"installing {path}", f"mv -f {_q(staging)} {_q(path)} && chown root:root {_q(path)}")


class Remote(Protocol):
    """What provisioning needs from an SSH connection."""

    transport: paramiko.Transport

    def run(self, command: str, timeout: float = 600) -> tuple[int, str, str]: ...

    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None: ...


@dataclass
class AgentLocation:
    """Where the agent lives on the host. Tests point these at temporary paths."""

    socket: str = "/run/machine/agent.sock"
    root: str = "/var/lib/machine-agent"
    install_dir: str = "/usr/local/lib/machine"
    group: str = ""  # besides root, this group may use the socket (the SSH user's, when it is not root)

    @property
    def agent_args(self) -> str:
        args = f"--socket {_q(self.socket)} --root {_q(self.root)}"
        return args + (f" --socket-group {_q(self.group)}" if self.group else "")

    @classmethod
    def from_config(cls, data: Optional[dict[str, Any]]) -> "AgentLocation":
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
        new = _q(self.code + ".new")
        return (f"rm -rf {new} && python3 -m zipfile -e {_q(self.artifact)} {new} && "
                f"python3 -m compileall -q {new} >/dev/null && rm -rf {_q(self.code)} && mv {new} {_q(self.code)}")


# command the agent needs -> package name, per package manager
_PACKAGES = {
    "apt": {"python3": "python3", "conmon": "conmon", "ip": "iproute2", "runtime": "crun runc",
            "firewall": "nftables iptables"},
    "dnf": {"python3": "python3", "conmon": "conmon", "ip": "iproute", "runtime": "crun runc",
            "firewall": "nftables iptables"},
    "apk": {"python3": "python3", "conmon": "conmon", "ip": "iproute2", "runtime": "crun runc",
            "firewall": "nftables iptables"},
}
_CHECKS = {"python3": "command -v python3", "conmon": "command -v conmon", "ip": "command -v ip",
           "runtime": "command -v crun || command -v runc", "firewall": "command -v nft || command -v iptables"}
_INSTALL = {
    "apt": "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends {}",
    "dnf": "dnf install -y -q {}",
    "apk": "apk add --no-cache {}",
}

UNIT_PATH = "/etc/systemd/system/machine-agent.service"
_HAS_SYSTEMD = "test -d /run/systemd/system"
_UNIT = """[Unit]
Description=machine agent (Docker Engine API on {socket})
After=network-online.target

[Service]
# ready once the socket answers; recovering many containers may take long
Type=notify
TimeoutStartSec=infinity
ExecStart=/usr/bin/env python3 {code} {args}
Restart=on-failure
RestartSec=1
# containers outlive the agent: restarting or upgrading it stops only the agent process
KillMode=process

[Install]
WantedBy=multi-user.target
"""

# Without systemd: a supervisor loop restarts the agent when it exits (an upgrade just kills the
# agent; the loop starts the new artifact) until the stop file appears.
_DAEMON = """d={dir}
if [ -f $d/supervisor.pid ] && kill -0 "$(cat $d/supervisor.pid)" 2>/dev/null; then
    if [ {restart} = 1 ] && pid=$(cat $d/agent.pid 2>/dev/null) && kill "$pid" 2>/dev/null; then
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    fi
    exit 0
fi
rm -f $d/stop
setsid sh -c '
    echo $$ > {dir}/supervisor.pid
    while [ ! -f {dir}/stop ]; do
        python3 {code} {args} >> {dir}/agent.log 2>&1 &
        echo $! > {dir}/agent.pid
        wait $!
        sleep 1
    done' < /dev/null > /dev/null 2>&1 &
"""

_STOP_DAEMON = """d={dir}
touch $d/stop
[ -f $d/agent.pid ] && kill "$(cat $d/agent.pid)" 2>/dev/null
[ -f $d/supervisor.pid ] && kill "$(cat $d/supervisor.pid)" 2>/dev/null
rm -f $d/agent.pid $d/supervisor.pid
true
"""


def _q(value: str) -> str:
    return shlex.quote(value)


def _check(remote: Remote, step: str, command: str, timeout: float = 600) -> str:
    code, out, err = remote.run(command, timeout=timeout)
    if code != 0:
        detail = (err or out).strip().splitlines()[-5:]
        raise ProvisionError(f"{step} failed (exit {code}): {' / '.join(detail) or 'no output'}")
    return out


@dataclass
class HostFacts:
    """What provisioning needs to know of a host."""

    os_info: dict[str, str]  # /etc/os-release: ID, VERSION_ID, ID_LIKE, PRETTY_NAME, ...
    lacking: list[str]  # keys of _CHECKS the host fails
    systemd: bool
    agent_digest: str  # sha256 of the installed artifact, "" unless it is installed and unpacked
    unit: str  # the installed systemd unit, "" if none


_SECTION = "--machine-survey--"


def survey(remote: Remote, location: AgentLocation) -> HostFacts:
    """The host's facts in one round trip (each command costs a lot on a slow link or a booting VM)."""
    lacking = "; ".join(f"({check}) >/dev/null 2>&1 || echo {need}" for need, check in _CHECKS.items())
    section = f"printf '\\n{_SECTION}\\n'"
    out = _check(remote, "detecting the operating system", "; ".join([
        "cat /etc/os-release", section, lacking, section, f"{_HAS_SYSTEMD} && echo systemd", section,
        f"test -f {_q(location.code)}/__main__.py && sha256sum {_q(location.artifact)} 2>/dev/null", section,
        f"cat {UNIT_PATH} 2>/dev/null; true"]))
    parts = out.split(f"\n{_SECTION}\n")
    if len(parts) != 5:
        raise ProvisionError(f"detecting the operating system failed: unexpected output {out[-200:]!r}")
    os_release, lacking_out, systemd, digest, unit = parts
    info: dict[str, str] = {}
    for line in os_release.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            info[key] = value.strip().strip('"')
    return HostFacts(info, lacking_out.split(), systemd.strip() == "systemd", (digest.split() or [""])[0], unit)


def package_manager(os_info: dict[str, str]) -> Optional[str]:
    family = {os_info.get("ID", "")} | set(os_info.get("ID_LIKE", "").split())
    if family & {"debian", "ubuntu"}:
        return "apt"
    if family & {"fedora", "rhel", "centos"}:
        return "dnf"
    if "alpine" in family:
        return "apk"
    return None


def needed_packages(lacking: list[str], manager: Optional[str]) -> list[str]:
    """Package names to install so the agent has all it needs (empty when nothing is missing)."""
    if not lacking:
        return []
    if manager is None:
        raise ProvisionError(f"the host lacks {', '.join(lacking)} and its package manager is not supported "
                             f"(apt, dnf, apk): install them by hand, then run `machine provision`")
    return " ".join(_PACKAGES[manager][n] for n in lacking).split()


def has_systemd(remote: Remote) -> bool:
    code, _, _ = remote.run(_HAS_SYSTEMD)
    return code == 0


def upload_agent(remote: Remote, location: AgentLocation, data: bytes, installed_digest: str) -> bool:
    """Upload the artifact unless the host has the same bytes unpacked; True when it changed."""
    if installed_digest == artifact.digest(data).split(":", 1)[1]:
        return False
    _check(remote, "creating the agent's folders",
           f"mkdir -p {_q(location.install_dir)} {_q(location.root)} && chmod 700 {_q(location.root)}")
    tmp = location.artifact + ".new"
    remote.put_bytes(data, tmp, 0o755)
    _check(remote, "installing the agent", f"mv -f {_q(tmp)} {_q(location.artifact)} && {location.unpack_command}")
    return True


def start_service(remote: Remote, location: AgentLocation, systemd: bool, restart: bool,
                  installed_unit: str = "") -> None:
    """Run the agent as a service; restart it when asked (containers keep running)."""
    if systemd:
        unit = _UNIT.format(socket=location.socket, args=location.agent_args, code=location.code)
        action = "restart" if restart else "start"
        if installed_unit == unit:  # e.g. preinstalled in the image: skip the slow daemon-reload and enable
            _check(remote, "starting the agent service", f"systemctl {action} machine-agent")
            return
        remote.put_bytes(unit.encode(), UNIT_PATH, 0o644)
        _check(remote, "starting the agent service",
               f"systemctl daemon-reload && systemctl enable -q machine-agent && systemctl {action} machine-agent")
        return
    script = _DAEMON.format(dir=_q(location.install_dir), args=location.agent_args.replace("'", "'\\''"),
                            code=_q(location.code), restart=int(restart))
    _check(remote, "starting the agent", script)


def preinstalled_files(location: AgentLocation) -> dict[str, tuple[bytes, int]]:
    """Path -> (content, mode) that put this agent into a guest image as an enabled systemd service, so a
    new machine's agent is already up when provisioning checks it (provisioning still upgrades it).
    The image builder then runs `location.unpack_command` in the image."""
    unit = _UNIT.format(socket=location.socket, args=location.agent_args, code=location.code)
    return {location.artifact: (artifact.build(), 0o755),
            UNIT_PATH: (unit.encode(), 0o644)}


def stop_service(remote: Remote, location: AgentLocation) -> None:
    """Stop the agent (containers keep running)."""
    if has_systemd(remote):
        remote.run("systemctl stop machine-agent")
    else:
        remote.run(_STOP_DAEMON.format(dir=_q(location.install_dir)))


def ping(transport: paramiko.Transport, socket_path: str) -> bool:
    """True when the agent answers /_ping through the SSH connection."""
    try:
        chan = open_streamlocal(transport, socket_path, timeout=5)
    except (paramiko.SSHException, EOFError, OSError):
        return False
    try:
        chan.settimeout(5)
        chan.sendall(b"GET /_ping HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
        return chan.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        chan.close()


def wait_healthy(transport: paramiko.Transport, location: AgentLocation, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ping(transport, location.socket):
        if time.monotonic() > deadline:
            raise ProvisionError(f"the agent did not answer on {location.socket} within {timeout:.0f}s: "
                                 f"see {location.install_dir}/agent.log (or `journalctl -u machine-agent`) "
                                 f"on the host with `machine ssh`, then run `machine provision`")
        time.sleep(0.1)


def provision(remote: Remote, location: AgentLocation, progress: Progress, upgrade: bool = False) -> str:
    """Bring the agent up on the host; returns the agent version installed."""
    progress("Detecting the operating system")
    facts = survey(remote, location)
    manager = package_manager(facts.os_info)
    progress(f"Found {facts.os_info.get('PRETTY_NAME', facts.os_info.get('ID', 'an unknown Linux'))}")
    missing = needed_packages(facts.lacking, manager)
    if missing:
        assert manager is not None
        progress(f"Installing {' '.join(missing)}")
        _check(remote, f"installing {' '.join(missing)}", _INSTALL[manager].format(" ".join(missing)), timeout=1200)
    progress("Uploading the agent")
    changed = upload_agent(remote, location, artifact.build(), facts.agent_digest)
    progress(f"Starting the agent ({'systemd service' if facts.systemd else 'supervised daemon'})")
    start_service(remote, location, facts.systemd, restart=changed or upgrade, installed_unit=facts.unit)
    progress("Waiting for the agent")
    wait_healthy(remote.transport, location)
    return artifact.version()
