"""A machine that is not running (its host's sshd stopped, through the generic driver) or was removed: the
commands say so and name what to do, exit non-zero, and leave no tunnel behind; a running tunnel exits
by itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cli import Cli, agent_args, stop_agent, stop_tunnels
from tests.support.sshd import Sshd

pytestmark = [pytest.mark.ssh, pytest.mark.containers]


def _tunnel_pid(cli: Cli, name: str) -> int | None:
    """The pid of the machine's tunnel process, if one runs (found by its command line, not its pid file)."""
    for proc in Path("/proc").iterdir():
        try:
            words = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"machine.tunnelprocess" in words and str(cli.store).encode() in words and name.encode() in words:
            return int(proc.name)
    return None


def _wait_gone(pid: int, deadline: float = 120) -> bool:
    """Wait until the process has ended (a zombie no parent reaps has ended too); False past the deadline."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.2)
    return False


def test_commands_on_a_stopped_host_say_it_is_not_running(cli: Cli, own_sshd: Callable[..., Sshd]) -> None:
    sshd = own_sshd()
    cli("create", *sshd.generic_args(), "--no-provision", "one")
    sshd.stop()
    assert cli("status", "one").stdout == "Stopped\n"
    for command in (
        ["env", "one"],
        ["use", "one"],
        ["config", "one"],
        ["docker", "one", "--", "ps"],
        ["ps", "-m", "one"],
    ):
        failed = cli(*command, check=False)
        assert failed.returncode == 1, command
        assert failed.stderr.startswith("Error: machine one is not running (state Stopped)"), (command, failed.stderr)
        assert "Start the host and its SSH server" in failed.stderr and "Traceback" not in failed.stderr
        assert failed.stdout == ""
    assert _tunnel_pid(cli, "one") is None
    assert not (cli.store / "machines" / "one" / "tunnel.pid").exists()
    assert cli("active", check=False).returncode == 1, "use did not switch to a stopped machine"


@pytest.fixture
def provisioned_on_own(cli: Cli, own_sshd: Callable[..., Sshd], tmp_path: Path) -> Iterator[Sshd]:
    """A provisioned machine `dev` on an sshd of the test's own, its tunnel running; yields that sshd."""
    base = tmp_path / "guest"
    base.mkdir()
    sshd = own_sshd()
    try:
        cli("create", *sshd.generic_args(), *agent_args(base), "dev", timeout=300)
        cli("env", "dev")
        yield sshd
    finally:
        stop_tunnels(cli.store)
        stop_agent(base)


def test_tunnel_of_a_stopped_machine_exits_by_itself(cli: Cli, provisioned_on_own: Sshd) -> None:
    pid = _tunnel_pid(cli, "dev")
    assert pid is not None
    provisioned_on_own.go_down()  # as a host that shuts down: the tunnel's link drops
    assert _wait_gone(pid), "the tunnel still runs after its machine stopped"
    folder = cli.store / "machines" / "dev"
    assert not (folder / "docker.sock").exists() and not (folder / "tunnel.pid").exists()
    log = (folder / "tunnel.log").read_text()
    assert "dropped" in log and "tunnel for dev exits: machine dev is stopped" in log, log
    failed = cli("env", "dev", check=False)
    assert failed.returncode == 1 and "machine dev is not running" in failed.stderr
    assert _tunnel_pid(cli, "dev") is None
    provisioned_on_own.start()
    assert "DOCKER_HOST=" in cli("env", "dev").stdout  # started again, the machine serves again


def test_tunnel_of_a_removed_machine_exits_by_itself(cli: Cli, provisioned_on_own: Sshd) -> None:
    pid = _tunnel_pid(cli, "dev")
    assert pid is not None
    config = cli.store / "machines" / "dev" / "config.json"
    config.write_text("{")  # rm cannot read the record, so it cannot stop the tunnel itself
    cli("rm", "-f", "-y", "dev")
    assert not config.parent.exists()
    assert _wait_gone(pid), "the tunnel still runs after its machine was removed"
