"""Provisioning against a fake host: one survey round trip, packages only when missing, the agent uploaded
only when it differs, the unit written only when it changed, and clear errors."""

from __future__ import annotations

import re

import pytest

from machine import agent
from machine.agent import UNIT_PATH, AgentLocation
from machine.provision import ProvisionError, needed_packages, package_manager, provision, survey, wait_healthy

from .fakes import FakeHost

LOCATION = AgentLocation(socket="/run/t/agent.sock", root="/var/lib/t", install_dir="/opt/t")


def test_survey_reads_the_host_in_one_round_trip() -> None:
    host = FakeHost(lacking=["conmon", "runtime"], systemd=False, installed=b"old agent", unit="[Unit]\n")
    facts = survey(host, LOCATION)
    assert len(host.commands) == 1
    assert facts.os_info["ID"] == "debian" and facts.os_info["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert facts.lacking == ["conmon", "runtime"] and facts.systemd is False
    assert facts.agent_digest == agent.digest(b"old agent").split(":")[1] and facts.unit == "[Unit]\n"


def test_an_unexpected_survey_answer_is_a_clear_error() -> None:
    class Odd(FakeHost):
        def run(self, command: str, timeout: float = 600) -> tuple[int, str, str]:
            return 0, "Welcome to the shell of an appliance\n", ""

    with pytest.raises(ProvisionError, match="detecting the operating system failed: unexpected output"):
        survey(Odd(), LOCATION)


@pytest.mark.parametrize(
    ("os_release", "manager"),
    [
        ({"ID": "debian"}, "apt"),
        ({"ID": "pop", "ID_LIKE": "ubuntu debian"}, "apt"),
        ({"ID": "rocky", "ID_LIKE": "rhel centos fedora"}, "dnf"),
        ({"ID": "alpine"}, "apk"),
        ({"ID": "nixos"}, None),
    ],
)
def test_package_manager_from_os_release(os_release: dict[str, str], manager: str | None) -> None:
    assert package_manager(os_release) == manager


def test_needed_packages() -> None:
    assert needed_packages([], None) == []
    assert needed_packages(["runtime", "ip"], "dnf") == ["crun", "runc", "iproute"]
    with pytest.raises(ProvisionError, match="lacks conmon .* install them by hand"):
        needed_packages(["conmon"], None)


def test_fresh_systemd_host_gets_packages_the_agent_and_its_unit() -> None:
    host = FakeHost(lacking=["conmon"])
    said: list[str] = []
    assert provision(host, LOCATION, said.append) == agent.version()
    assert any("apt-get install" in c and c.endswith(" conmon") for c in host.commands)
    assert host.files[LOCATION.artifact + ".new"] == (agent.build(), 0o755)
    assert host.files[UNIT_PATH] == (LOCATION.unit.encode(), 0o644)
    assert "--socket /run/t/agent.sock --root /var/lib/t" in LOCATION.unit
    assert (
        host.commands[-1]
        == "systemctl daemon-reload && systemctl enable -q machine-agent && systemctl restart machine-agent"
    )
    assert said == [
        "[1/5] Detecting the operating system",
        "  found Debian GNU/Linux 12 (bookworm)",
        "[2/5] Installing conmon with apt",  # not a terminal: plain lines, the time it took at the end
        said[3],
        "[3/5] Uploading the agent",
        "[4/5] Starting the agent (systemd service)",
        "[5/5] Waiting for the agent",
    ]
    assert re.fullmatch(r"  done in \d+:\d\d", said[3])


def test_an_up_to_date_host_gets_nothing_but_a_start() -> None:
    host = FakeHost(installed=agent.build(), unit=LOCATION.unit)
    provision(host, LOCATION, lambda m: None)
    assert host.files == {}
    assert host.commands[1:] == ["systemctl start machine-agent"]


def test_upgrade_restarts_the_agent_even_when_unchanged() -> None:
    host = FakeHost(installed=agent.build(), unit=LOCATION.unit)
    provision(host, LOCATION, lambda m: None, upgrade=True)
    assert host.commands[1:] == ["systemctl restart machine-agent"]


def test_without_systemd_a_supervisor_runs_the_agent() -> None:
    host = FakeHost(systemd=False)
    provision(host, LOCATION, lambda m: None)
    assert UNIT_PATH not in host.files
    script = host.commands[-1]
    assert "setsid sh -c" in script and "/opt/t/agent --socket /run/t/agent.sock" in script


def test_a_failing_step_names_the_step_and_the_output() -> None:
    class Full(FakeHost):
        def run(self, command: str, timeout: float = 600) -> tuple[int, str, str]:
            if command.startswith("mkdir -p"):
                self.commands.append(command)
                return 1, "", "mkdir: cannot create directory '/opt/t': No space left on device\n"
            return super().run(command, timeout)

    with pytest.raises(ProvisionError, match="creating the agent's folders failed \\(exit 1\\): .*No space left"):
        provision(Full(), LOCATION, lambda m: None)


def test_an_agent_that_never_answers_is_a_clear_error() -> None:
    with pytest.raises(ProvisionError, match="did not answer on /run/t/agent.sock .* /opt/t/agent.log"):
        wait_healthy(FakeHost(agent_starts=False), LOCATION, timeout=0.2)


def test_a_host_that_came_with_this_agent_is_only_waited_for() -> None:
    """The image had this agent installed and enabled (its manifest says so): no command runs on the host."""
    host = FakeHost(installed=agent.build(), unit=LOCATION.unit, agent_up=True)
    said: list[str] = []
    installed = agent.fingerprint(LOCATION, agent.build())
    assert provision(host, LOCATION, said.append, installed=installed) == agent.version()
    assert host.commands == [] and host.files == {}
    assert said == ["Waiting for the agent (the image has it)"]


def test_a_host_that_came_with_another_agent_is_provisioned() -> None:
    """An image built before this agent or its unit changed: the usual steps, which replace it."""
    host = FakeHost(installed=b"old agent", unit=LOCATION.unit, agent_up=True)
    provision(host, LOCATION, lambda m: None, installed=agent.fingerprint(LOCATION, b"old agent"))
    assert host.files[LOCATION.artifact + ".new"] == (agent.build(), 0o755)
    assert host.commands[-1] == "systemctl restart machine-agent"


def test_an_agent_the_host_came_with_that_does_not_answer_is_provisioned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("machine.provision.PREINSTALLED_WAIT", 0.2)
    host = FakeHost(installed=agent.build(), unit=LOCATION.unit)
    said: list[str] = []
    provision(host, LOCATION, said.append, installed=agent.fingerprint(LOCATION, agent.build()))
    assert said[:3] == [
        "Waiting for the agent (the image has it)",
        "  it did not answer within 0s: provisioning it",
        "[1/5] Detecting the operating system",
    ]
    assert host.commands[1:] == ["systemctl start machine-agent"] and host.agent_up
