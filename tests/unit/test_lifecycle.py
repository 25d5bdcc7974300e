"""The lifecycle against a fake driver and a fake host: what create, provision, start, stop and rm record,
and what is left after a failure at each step."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import ClassVar

import pytest

from drivers import Driver, DriverError, State
from machine import agent
from machine.agent import AgentLocation
from machine.lifecycle import Lifecycle, NotRunning
from machine.provision import ProvisionError
from machine.store import Machine, Store, StoreError
from machine.transport.ssh import SSHError
from machine.tunnels import TunnelError

from .fakes import FakeConnector, FakeDriver, FakeHost, FakeSettings, LearningDriver

DRIVERS: dict[str, type[Driver]] = {"fake": FakeDriver, "learning": LearningDriver}


def lifecycle(
    tmp_path: Path, host: FakeHost | None = None, tunnel_fails: bool = False
) -> tuple[Lifecycle, FakeConnector, list[str]]:
    said: list[str] = []
    connector = FakeConnector(host or FakeHost())

    def tunnel(machine: Machine, *, resumed: bool = False, boot_wait: float = 0.0) -> str:  # the real one connects
        if tunnel_fails:
            raise TunnelError("cannot reach the agent through the tunnel")
        how = ", clock stepped" if resumed else f", SSH waited for up to {boot_wait:g}s" if boot_wait else ""
        said.append(f"(tunnel of {machine.name} started{how})")
        return f"unix://{machine.folder}/docker.sock"

    return Lifecycle(Store(tmp_path), said.append, DRIVERS.__getitem__, connector, tunnel), connector, said


def config(tmp_path: Path, name: str = "dev") -> dict:
    return json.loads((tmp_path / "machines" / name / "config.json").read_text())


def test_create_generates_a_private_key_pins_the_injected_host_key_and_provisions(tmp_path: Path) -> None:
    life, connector, said = lifecycle(tmp_path)
    machine = life.create("dev", FakeDriver, FakeSettings(size=2), AgentLocation())
    key = tmp_path / "machines/dev/ssh_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and Path(f"{key}.pub").read_text().startswith("ssh-ed25519 ")
    saved = config(tmp_path)
    assert saved["state"] == "running" and saved["version"] == 2
    assert saved["ssh"] == {"host": "192.0.2.10", "port": 22, "user": "root", "host_keys": [FakeDriver.injected_key]}
    assert saved["driver"] == {
        "name": "fake",
        "settings": {"size": 2, "fail_create": False, "ip": "192.0.2.10", "user": "root", "running": True},
    }
    assert saved["agent"]["version"] == machine.agent["version"] and connector.host.agent_up and connector.host.closed
    assert connector.targets[0].key_path == key and connector.targets[0].host_keys == [FakeDriver.injected_key]
    assert said[:3] == ["Running pre-create checks...", "Creating machine...", "Waiting for SSH..."]


def test_a_driver_without_injected_keys_pins_the_key_seen_first_and_brings_its_own_user_key(tmp_path: Path) -> None:
    life, connector, _ = lifecycle(tmp_path)
    life.create("dev", LearningDriver, FakeSettings(), AgentLocation())
    assert config(tmp_path)["ssh"]["host_keys"] == [connector.host_key]
    assert (tmp_path / "machines/dev/ssh_key").read_text() == "the user's own key\n"  # not replaced by a new one
    assert not (tmp_path / "machines/dev/ssh_key.pub").exists()


class ImageAgentDriver(FakeDriver):
    """A driver whose host came with this version's agent started at boot (an image of machine's own)."""

    def installed_agent(self) -> str:
        return agent.fingerprint(AgentLocation(), agent.build())


class LearningImageAgentDriver(ImageAgentDriver, LearningDriver):
    """The same agent in the image, but a host key that the first connection has to learn."""


@pytest.mark.parametrize("tunnel_fails", [False, True])
def test_create_from_an_image_with_this_agent_lets_the_tunnel_make_the_one_connection(
    tmp_path: Path, tunnel_fails: bool
) -> None:
    """The host key is pinned and the agent runs at boot: create makes no login of its own, the tunnel waits for
    sshd and finds the agent; when the tunnel does not reach it, create logs in and provisions, which says why."""
    host = FakeHost(agent_up=True)
    life, connector, said = lifecycle(tmp_path, host, tunnel_fails=tunnel_fails)
    machine = life.create("dev", ImageAgentDriver, FakeSettings(), AgentLocation())
    assert "Waiting for SSH and the agent (the image has it)..." in said
    assert config(tmp_path)["state"] == "running" and machine.agent["version"] == agent.version()
    if tunnel_fails:
        assert len(connector.targets) == 1 and any("logging in to see why" in line for line in said)
    else:
        assert connector.targets == [] and host.commands == []  # no login of its own
        assert f"(tunnel of dev started, SSH waited for up to {FakeDriver.ssh_timeout:g}s)" in said


def test_a_host_key_to_learn_makes_create_log_in_even_with_the_agent_in_the_image(tmp_path: Path) -> None:
    host = FakeHost(agent_up=True)
    life, connector, said = lifecycle(tmp_path, host)
    life.create("dev", LearningImageAgentDriver, FakeSettings(), AgentLocation())
    assert len(connector.targets) == 1 and not any("tunnel of dev started" in line for line in said)
    assert config(tmp_path)["ssh"]["host_keys"] == [connector.host_key]
    assert "Waiting for the agent (the image has it)" in said and host.commands == []  # the agent was waited for


def test_a_failed_precreate_check_leaves_no_record(tmp_path: Path) -> None:
    class Refusing(FakeDriver):
        def precreate_check(self) -> None:
            raise DriverError("no room for it")

    life, _, _ = lifecycle(tmp_path)
    with pytest.raises(DriverError, match="no room"):
        life.create("dev", Refusing, FakeSettings(), AgentLocation())
    assert not (tmp_path / "machines/dev").exists()


def test_a_failed_create_keeps_the_record_in_error_until_rm_force(tmp_path: Path) -> None:
    life, _, _ = lifecycle(tmp_path)
    with pytest.raises(DriverError, match="did not boot"):
        life.create("dev", FakeDriver, FakeSettings(fail_create=True), AgentLocation())
    machine = life.store.load("dev")
    assert machine.state == "error" and life.state(machine) is State.ERROR
    life.remove("dev", force=True)
    assert not (tmp_path / "machines/dev").exists()


def test_unreachable_host_after_create_is_an_error_state_and_provision_repairs_it(tmp_path: Path) -> None:
    life, connector, _ = lifecycle(tmp_path)
    connector.reachable = False
    with pytest.raises(SSHError, match="cannot reach dev"):
        life.create("dev", FakeDriver, FakeSettings(), AgentLocation())
    assert config(tmp_path)["state"] == "error"
    connector.reachable = True
    life.provision(life.store.load("dev"))
    assert config(tmp_path)["state"] == "running" and config(tmp_path)["agent"]["version"]


def test_no_provision_creates_the_host_only(tmp_path: Path) -> None:
    life, connector, _ = lifecycle(tmp_path)
    machine = life.create("dev", FakeDriver, FakeSettings(), AgentLocation(), provision_agent=False)
    assert "version" not in machine.agent and connector.host.commands == []
    assert config(tmp_path)["state"] == "running"


@pytest.mark.parametrize("tunnel_fails", [False, True])
def test_start_records_the_new_address_and_waits_for_the_agent(tmp_path: Path, tunnel_fails: bool) -> None:
    """The booted machine's tunnel waits for sshd, makes the one SSH connection and finds the agent; when it does
    not, the checks log in themselves to say why."""
    life, connector, said = lifecycle(tmp_path, tunnel_fails=tunnel_fails)
    machine = life.create("dev", FakeDriver, FakeSettings(), AgentLocation())
    life.stop(machine)
    assert life.state(life.store.load("dev")) is State.STOPPED
    connector.host.agent_up = True
    said.clear()
    logins = len(connector.targets)
    life.start(life.store.load("dev"))
    saved = config(tmp_path)
    assert saved["ssh"]["host"] == "192.0.2.11" and saved["driver"]["settings"]["ip"] == "192.0.2.11"
    assert "Waiting for SSH and the agent..." in said
    if tunnel_fails:
        assert connector.targets[-1].host == "192.0.2.11" and len(connector.targets) == logins + 1
    else:
        assert len(connector.targets) == logins  # no login of its own
        # DOCKER_HOST answers again once start returns
        assert f"(tunnel of dev started, SSH waited for up to {FakeDriver.ssh_timeout:g}s)" in said
    assert life.state(life.store.load("dev")) is State.RUNNING


class ResumingDriver(FakeDriver):
    """A driver that saved the machine's state: start resumes it."""

    def resumes(self, context: str) -> bool:
        return True


@pytest.mark.parametrize("tunnel_fails", [False, True])
def test_a_resumed_machine_is_reached_through_its_tunnel_alone(tmp_path: Path, tunnel_fails: bool) -> None:
    """The tunnel's connection steps the clock and finds the agent, so start makes no SSH connection of its own;
    when the agent does not answer through the tunnel, a boot's checks run (the clock stepped by them)."""
    life, connector, said = lifecycle(tmp_path, tunnel_fails=tunnel_fails)
    DRIVERS["resuming"] = ResumingDriver
    try:
        life.create("dev", FakeDriver, FakeSettings(), AgentLocation())
        machine = life.store.load("dev")
        machine.driver = "resuming"
        life.store.save(machine)
        life.stop(machine)
        connected, said[:] = len(connector.targets), []
        connector.host.commands.clear()
        life.start(life.store.load("dev"))
    finally:
        del DRIVERS["resuming"]
    stepped = [command for command in connector.host.commands if command.startswith("date -u -s @")]
    if tunnel_fails:
        assert len(connector.targets) == connected + 1 and len(stepped) == 1 and "Waiting for the agent..." in said
    else:
        assert len(connector.targets) == connected and not stepped
        assert said == [
            "Resuming the saved state...",
            "Waiting for the agent...",
            "(tunnel of dev started, clock stepped)",
        ]


def test_non_root_users_provision_through_sudo_and_share_the_socket_with_their_group(tmp_path: Path) -> None:
    host = FakeHost()
    life, _, _ = lifecycle(tmp_path, host)

    class AsUser(FakeDriver):
        def create(self) -> None:
            super().create()
            self.settings.user = "admin"

    life.create("dev", AsUser, FakeSettings(), AgentLocation())
    assert config(tmp_path)["agent"]["location"]["group"] == "staff"
    assert all(c.startswith("sudo -n ") for c in host.commands if c not in ("sudo -n true", "id -gn"))
    assert any(path.startswith("/tmp/.machine-") for path in host.files)  # uploads are staged, then moved as root


def test_a_user_without_sudo_gets_told_how_to_fix_it(tmp_path: Path) -> None:
    life, _, _ = lifecycle(tmp_path, FakeHost(sudo=False))

    class AsUser(FakeDriver):
        def create(self) -> None:
            super().create()
            self.settings.user = "admin"

    with pytest.raises(ProvisionError, match="password-less sudo .* /etc/sudoers.d"):
        life.create("dev", AsUser, FakeSettings(), AgentLocation())
    assert config(tmp_path)["state"] == "error"


def test_rm_without_force_keeps_the_record_when_the_driver_fails(tmp_path: Path) -> None:
    class Stuck(FakeDriver):
        def remove(self) -> None:
            raise DriverError("the VM is locked")

    life, _, said = lifecycle(tmp_path)
    life.load_driver = {"fake": Stuck}.__getitem__
    life.create("dev", Stuck, FakeSettings(), AgentLocation())
    with pytest.raises(DriverError, match="locked"):
        life.remove("dev", force=False)
    assert life.store.exists("dev")
    life.remove("dev", force=True)
    assert not life.store.exists("dev")
    assert any(line.startswith("Could not remove the host of dev (the VM is locked)") for line in said)


def test_a_saved_setting_of_the_wrong_type_names_it(tmp_path: Path) -> None:
    life, _, _ = lifecycle(tmp_path)
    life.create("dev", FakeDriver, FakeSettings(), AgentLocation())
    path = tmp_path / "machines/dev/config.json"
    data = json.loads(path.read_text())
    data["driver"]["settings"]["size"] = "big"
    path.write_text(json.dumps(data))
    with pytest.raises(DriverError, match="size='big' is not a int"):
        life.driver(life.store.load("dev"))


def test_the_store_refuses_a_second_machine_of_the_same_name(tmp_path: Path) -> None:
    life, _, _ = lifecycle(tmp_path)
    life.create("dev", FakeDriver, FakeSettings(), AgentLocation())
    with pytest.raises(StoreError, match="already exists"):
        life.create("dev", FakeDriver, FakeSettings(), AgentLocation())
    assert config(tmp_path)["state"] == "running"  # the first one is untouched


class Costly(FakeDriver):
    """A driver whose hosts cost money: a failed create removes what it made."""

    remove_failed_create = True
    removed: ClassVar[list[str]] = []  # the addresses of the hosts it removed

    def remove(self) -> None:
        Costly.removed.append(self.settings.ip)


def test_a_costly_failed_create_is_rolled_back_and_leaves_no_record(tmp_path: Path) -> None:
    life, connector, said = lifecycle(tmp_path)
    connector.reachable = False
    with pytest.raises(SSHError, match="cannot reach dev"):
        life.create("dev", Costly, FakeSettings(), AgentLocation())
    assert Costly.removed == ["192.0.2.10"] and not life.store.exists("dev")
    assert "Creating dev failed: removing what was made" in said


def test_a_rollback_that_fails_keeps_the_record_for_rm(tmp_path: Path) -> None:
    class Stubborn(Costly):
        def remove(self) -> None:
            raise DriverError("the API is down")

    life, connector, said = lifecycle(tmp_path)
    connector.reachable = False
    with pytest.raises(SSHError):
        life.create("dev", Stubborn, FakeSettings(), AgentLocation())
    assert config(tmp_path)["state"] == "error" and config(tmp_path)["driver"]["settings"]["ip"] == "192.0.2.10"
    assert any("run `machine rm dev`" in line for line in said)


class HostOnlyDriver(FakeDriver):
    """A host the driver cannot start (as the generic driver's): its owner does."""

    name = "hostonly"
    start = Driver.start


class VanishedDriver(FakeDriver):
    name = "vanished"

    def state(self) -> State:
        return State.NOT_FOUND


@pytest.mark.parametrize(
    ("driver", "says"),
    [
        (FakeDriver, "machine dev is not running (state Stopped). Start it with `machine start dev`"),
        (HostOnlyDriver, "machine dev is not running (state Stopped): 192.0.2.10:22 does not answer. Start the host"),
        (VanishedDriver, "machine dev is not running: its host no longer exists (state Not found). Remove it with"),
    ],
)
def test_the_docker_endpoint_of_a_machine_that_is_not_running_names_what_to_do(
    tmp_path: Path, driver: type[FakeDriver], says: str
) -> None:
    life, _, _ = lifecycle(tmp_path)
    life.load_driver = {driver.name: driver}.__getitem__
    machine = life.create("dev", driver, FakeSettings(), AgentLocation())
    machine.driver_settings["running"] = False  # stopped behind machine's back
    with pytest.raises(NotRunning) as raised:
        life.docker_host(machine)
    assert str(raised.value).startswith(says)
    assert not (machine.folder / "tunnel.pid").exists()
