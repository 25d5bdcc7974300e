"""Provisioning: install and start the agent on a host reachable over SSH, for any driver.

Steps (each idempotent, so `machine provision` re-runs safely after a failure at any step):
detect the OS, install the packages the agent needs if missing, upload the agent artifact when its
digest differs, install it as a systemd service (or a supervised background daemon where there is
no systemd), and wait for the agent to answer /_ping through the SSH connection.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Protocol

from . import agent
from .agent import UNIT_PATH, AgentLocation, q
from .progress import Progress, ticking


class ProvisionError(Exception):
    """A provisioning step failed; the message names the step and what to do next."""


class SudoRemote:
    """Provisioning as root through password-less sudo, for an SSH user that is not root."""

    def __init__(self, remote: Remote):
        self.remote = remote
        code, _, err = remote.run("sudo -n true")
        if code != 0:
            raise ProvisionError(
                f"the SSH user needs password-less sudo to install the agent ({err.strip()}): "
                f"allow it in /etc/sudoers.d, or connect as root"
            )

    def run(self, command: str, timeout: float = 600) -> tuple[int, str, str]:
        return self.remote.run(f"sudo -n sh -c {q(command)}", timeout)

    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None:
        staging = f"/tmp/.machine-{os.urandom(6).hex()}"
        self.remote.put_bytes(data, staging, mode)
        _check(self, f"installing {path}", f"mv -f {q(staging)} {q(path)} && chown root:root {q(path)}")

    def agent_answers(self, socket_path: str) -> bool:
        return self.remote.agent_answers(socket_path)


class Remote(Protocol):
    """What provisioning needs of a host (an SSH session, or a fake in unit tests)."""

    def run(self, command: str, timeout: float = 600) -> tuple[int, str, str]: ...

    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None: ...

    def agent_answers(self, socket_path: str) -> bool: ...


# command the agent needs -> package name, per package manager
_PACKAGES = {
    "apt": {
        "python3": "python3",
        "conmon": "conmon",
        "ip": "iproute2",
        "runtime": "crun runc",
        "firewall": "nftables iptables",
        "sshfs": "sshfs",
    },
    "dnf": {
        "python3": "python3",
        "conmon": "conmon",
        "ip": "iproute",
        "runtime": "crun runc",
        "firewall": "nftables iptables",
        "sshfs": "fuse-sshfs",
    },
    "apk": {
        "python3": "python3",
        "conmon": "conmon",
        "ip": "iproute2",
        "runtime": "crun runc",
        "firewall": "nftables iptables",
        "sshfs": "sshfs",
    },
}
_CHECKS = {
    "python3": "command -v python3",
    "conmon": "command -v conmon",
    "ip": "command -v ip",
    "runtime": "command -v crun || command -v runc",
    "firewall": "command -v nft || command -v iptables",
    "sshfs": "command -v sshfs",  # shared folders
}
_INSTALL = {
    "apt": "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && "
    "apt-get install -y -qq --no-install-recommends {}",
    "dnf": "dnf install -y -q {}",
    "apk": "apk add --no-cache {}",
}

_HAS_SYSTEMD = "test -d /run/systemd/system"
PREINSTALLED_WAIT = 15.0  # seconds for an agent the host came with (its unit takes 1-5 s at a boot under TCG)

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
    out = _check(
        remote,
        "detecting the operating system",
        "; ".join(
            [
                "cat /etc/os-release",
                section,
                lacking,
                section,
                f"{_HAS_SYSTEMD} && echo systemd",
                section,
                f"test -f {q(location.code)}/__main__.py && sha256sum {q(location.artifact)} 2>/dev/null",
                section,
                f"cat {UNIT_PATH} 2>/dev/null; true",
            ]
        ),
    )
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


def package_manager(os_info: dict[str, str]) -> str | None:
    family = {os_info.get("ID", "")} | set(os_info.get("ID_LIKE", "").split())
    if family & {"debian", "ubuntu"}:
        return "apt"
    if family & {"fedora", "rhel", "centos"}:
        return "dnf"
    if "alpine" in family:
        return "apk"
    return None


def needed_packages(lacking: list[str], manager: str | None) -> list[str]:
    """Package names to install so the agent has all it needs (empty when nothing is missing)."""
    if not lacking:
        return []
    if manager is None:
        raise ProvisionError(
            f"the host lacks {', '.join(lacking)} and its package manager is not supported "
            f"(apt, dnf, apk): install them by hand, then run `machine provision`"
        )
    return " ".join(_PACKAGES[manager][n] for n in lacking).split()


def upload_agent(remote: Remote, location: AgentLocation, data: bytes, installed_digest: str) -> bool:
    """Upload the artifact unless the host has the same bytes unpacked; True when it changed."""
    if installed_digest == agent.digest(data).split(":", 1)[1]:
        return False
    _check(
        remote,
        "creating the agent's folders",
        f"mkdir -p {q(location.install_dir)} {q(location.root)} && chmod 700 {q(location.root)}",
    )
    tmp = location.artifact + ".new"
    remote.put_bytes(data, tmp, 0o755)
    _check(remote, "installing the agent", f"mv -f {q(tmp)} {q(location.artifact)} && {location.unpack_command}")
    return True


def start_service(
    remote: Remote, location: AgentLocation, systemd: bool, restart: bool, installed_unit: str = ""
) -> None:
    """Run the agent as a service; restart it when asked (containers keep running)."""
    if systemd:
        unit = location.unit
        action = "restart" if restart else "start"
        if installed_unit == unit:  # e.g. preinstalled in the image: skip the slow daemon-reload and enable
            _check(remote, "starting the agent service", f"systemctl {action} machine-agent")
            return
        remote.put_bytes(unit.encode(), UNIT_PATH, 0o644)
        _check(
            remote,
            "starting the agent service",
            f"systemctl daemon-reload && systemctl enable -q machine-agent && systemctl {action} machine-agent",
        )
        return
    script = _DAEMON.format(
        dir=q(location.install_dir),
        args=location.agent_args.replace("'", "'\\''"),
        code=q(location.code),
        restart=int(restart),
    )
    _check(remote, "starting the agent", script)


def wait_healthy(remote: Remote, location: AgentLocation, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not remote.agent_answers(location.socket):
        if time.monotonic() > deadline:
            raise ProvisionError(
                f"the agent did not answer on {location.socket} within {timeout:.0f}s: "
                f"see {location.install_dir}/agent.log (or `journalctl -u machine-agent`) "
                f"on the host with `machine ssh`, then run `machine provision`"
            )
        time.sleep(0.1)


def has_this_agent(location: AgentLocation, installed: str) -> bool:
    """Whether `installed` (Driver.installed_agent: what the host came with) is this version's agent and unit."""
    return bool(installed) and installed == agent.fingerprint(location, agent.build())


def provision(
    remote: Remote, location: AgentLocation, progress: Progress, upgrade: bool = False, installed: str = ""
) -> str:
    """Bring the agent up on the host, telling each step as [n/N]; returns the agent version installed.
    `installed`: the fingerprint of the agent the host came with, started at boot (Driver.installed_agent); when
    it is this one, the agent is only waited for (a host that booted moments ago is slow at every command)."""
    if has_this_agent(location, installed) and not upgrade:
        progress("Waiting for the agent (the image has it)")
        try:
            wait_healthy(remote, location, timeout=PREINSTALLED_WAIT)
            return agent.version()
        except ProvisionError:
            progress(f"  it did not answer within {PREINSTALLED_WAIT:.0f}s: provisioning it")
    artifact = agent.build()
    progress("[1/5] Detecting the operating system")
    facts = survey(remote, location)
    manager = package_manager(facts.os_info)
    progress(f"  found {facts.os_info.get('PRETTY_NAME', facts.os_info.get('ID', 'an unknown Linux'))}")
    missing = needed_packages(facts.lacking, manager)
    if missing:
        assert manager is not None
        with ticking(progress, f"[2/5] Installing {' '.join(missing)} with {manager}"):
            _check(remote, f"installing {' '.join(missing)}", _INSTALL[manager].format(" ".join(missing)), timeout=1200)
    else:
        progress("[2/5] The packages the agent needs are installed")
    progress("[3/5] Uploading the agent")
    changed = upload_agent(remote, location, artifact, facts.agent_digest)
    progress(f"[4/5] Starting the agent ({'systemd service' if facts.systemd else 'supervised daemon'})")
    start_service(remote, location, facts.systemd, restart=changed or upgrade, installed_unit=facts.unit)
    progress("[5/5] Waiting for the agent")
    wait_healthy(remote, location)
    return agent.version()
