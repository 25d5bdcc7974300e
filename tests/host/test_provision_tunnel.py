"""Provisioning the agent through the generic driver, and the tunnel to it (real sshd, real agent)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from machine import tunnels
from machine.store import Store
from tests.support.cli import Cli, Provisioned, agent_args, stop_agent, stop_tunnels
from tests.support.sshd import Sshd, answer_each

pytestmark = [pytest.mark.ssh, pytest.mark.containers]


def test_create_provisions_and_env_points_docker_at_it(provisioned: Provisioned) -> None:
    record = json.loads(provisioned.cli("inspect", "dev").stdout)
    assert record["state"] == "running" and record["agent"]["version"]
    env = provisioned.cli("env", "dev", "--shell", "bash").stdout
    socket = provisioned.cli.store / "machines" / "dev" / "docker.sock"
    assert f'export DOCKER_HOST="unix://{socket}"' in env and 'export MACHINE_NAME="dev"' in env
    assert oct(socket.stat().st_mode & 0o777) == "0o600"
    version = json.loads(provisioned.docker("version", "--format", "{{json .Server}}").stdout)
    assert version["Components"][0]["Name"] == "Engine"
    row = json.loads(provisioned.cli("ls", "--format", "json").stdout)
    assert row["URL"] == f"unix://{socket}" and row["DockerVersion"] == record["agent"]["version"]


def test_docker_py_through_the_tunnel(provisioned: Provisioned) -> None:
    import docker

    host = provisioned.cli("url", "dev").stdout.strip()
    provisioned.cli("env", "dev")  # starts the tunnel
    client = docker.DockerClient(base_url=host, version="auto")
    try:
        assert client.ping()
        assert client.version()["ApiVersion"]
    finally:
        client.close()


def test_provision_is_idempotent(provisioned: Provisioned) -> None:
    again = provisioned.cli("provision", "dev")
    assert "Agent" in again.stderr and "running on dev" in again.stderr
    provisioned.docker("version")


def test_use_switches_the_docker_cli(provisioned: Provisioned) -> None:
    provisioned.cli("use", "dev")
    env = {k: v for k, v in provisioned.cli.env.items() if k != "DOCKER_HOST"}
    shown = subprocess.run(["docker", "context", "show"], env=env, capture_output=True, text=True)
    assert shown.stdout.strip() == "machine-dev"
    server = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Os}}"], env=env, capture_output=True, text=True, timeout=30
    )
    assert server.returncode == 0 and server.stdout.strip() == "linux", server.stderr


def test_tunnel_reconnects_after_ssh_drops(provisioned: Provisioned, sshd: Sshd) -> None:
    provisioned.docker("version")
    sessions = sshd.session_pids()
    assert sessions, "the tunnel holds an SSH connection"
    for pid in sessions:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert provisioned.docker("version", "--format", "{{.Server.Os}}").stdout.strip() == "linux"
    log = (provisioned.cli.store / "machines" / "dev" / "tunnel.log").read_text().splitlines()
    connected = [line for line in log if f"SSH connected to 127.0.0.1:{sshd.port}" in line]
    dropped = [line for line in log if f"SSH connection to 127.0.0.1:{sshd.port} dropped" in line]
    assert connected and dropped, log
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", dropped[0]), "each line starts with its time"
    assert log.index(connected[0]) < log.index(dropped[0])


def test_stop_sees_that_a_tunnel_not_yet_reaped_has_exited(
    provisioned: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tunnel started by a process that still runs (a program using machine, this test) stays a zombie until that
    process reaps it: stop() sees that it exited, and neither waits the grace time out nor kills it."""
    machine = Store(provisioned.cli.store).load("dev")
    tunnels.stop(machine)
    tunnels.ensure(machine)  # a child of this process
    pid = int((machine.folder / "tunnel.pid").read_text())
    sent: list[int] = []
    kill = os.kill

    def recorded(target: int, signum: int) -> None:
        sent.append(signum)
        kill(target, signum)

    monkeypatch.setattr(os, "kill", recorded)
    try:
        tunnels.stop(machine)
    finally:
        monkeypatch.undo()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    assert sent == [signal.SIGTERM]
    log = (machine.folder / "tunnel.log").read_text()
    last_run = log[log.rindex("listening on") :]
    assert "exits: signal SIGTERM" in last_run  # its threads may log after that line
    assert "following the agent's events failed" not in last_run  # but not the link closing under them


@contextlib.contextmanager
def ssh_broken(sshd: Sshd) -> Iterator[None]:
    """An outage of SSH on a host that stays up: its port still takes connections (so the machine is
    running) but closes each one before the SSH banner, until the real sshd starts again."""
    sshd.go_down()
    listener = socket.create_server(("127.0.0.1", sshd.port))
    answer_each(listener)
    try:
        yield
    finally:
        listener.close()
        sshd.start()


def test_outage_gives_a_clear_error_and_is_logged(provisioned: Provisioned, sshd: Sshd) -> None:
    provisioned.docker("version")
    with ssh_broken(sshd):
        failed = provisioned.docker("version", check=False, timeout=60)
        assert failed.returncode != 0
        assert "SSH connection is down" in failed.stderr and "the tunnel keeps retrying. If" in failed.stderr
        assert "machine start dev" in failed.stderr and ".." not in failed.stderr
    assert provisioned.docker("version", "--format", "{{.Server.Os}}", timeout=60).stdout.strip() == "linux"
    log = (provisioned.cli.store / "machines" / "dev" / "tunnel.log").read_text()
    assert "dropped" in log and "SSH connect attempt 1 failed" in log
    assert re.search(r"SSH reconnected to 127\.0\.0\.1:\d+ after \d+ failed attempts? \(down \d+\.\ds\)", log), log


def test_a_host_without_sftp_is_provisioned_over_an_exec_channel(
    cli: Cli, own_sshd: Callable[..., Sshd], tmp_path: Path
) -> None:
    sshd = own_sshd(sftp=False)
    base = tmp_path / "guest"
    try:
        cli("create", *sshd.generic_args(), *agent_args(base), "nosftp", timeout=300)
        host = cli("env", "nosftp").stdout.split('DOCKER_HOST="', 1)[1].split('"', 1)[0]
        server = subprocess.run(
            ["docker", "-H", host, "version", "--format", "{{.Server.Os}}"], capture_output=True, text=True, timeout=30
        )
        assert server.stdout.strip() == "linux", server.stderr
        assert (base / "agent-lib" / "agent.pyz").stat().st_mode & 0o777 == 0o755
        copied = cli("scp", str(tmp_path / "guest"), "nosftp:/tmp", check=False)
        assert copied.returncode == 1 and "Traceback" not in copied.stderr
        assert "has no SFTP subsystem" in copied.stderr and "Subsystem sftp" in copied.stderr
    finally:
        stop_tunnels(cli.store)
        stop_agent(base)


def test_provision_failure_is_reported_and_recoverable(cli: Cli, sshd: Sshd, tmp_path) -> None:
    base = tmp_path / "guest"
    # an install folder that cannot be created: provisioning fails at a named step
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = [
        "--agent-socket",
        str(base / "agent.sock"),
        "--agent-root",
        str(base / "root"),
        "--agent-dir",
        str(blocker / "lib"),
    ]
    failed = cli("create", *sshd.generic_args(), *args, "broken", check=False)
    assert failed.returncode == 1 and "failed" in failed.stderr and "Traceback" not in failed.stderr
    assert json.loads(cli("ls", "--format", "json").stdout)["State"] == "error"
    cli("rm", "-f", "-y", "broken")
    assert cli("ls", "-q").stdout == ""


def test_tcp_endpoint_for_windows(provisioned: Provisioned) -> None:
    """Windows' docker CLI cannot use a unix socket: the tunnel then listens on a 127.0.0.1 port."""
    stop_tunnels(provisioned.cli.store)  # the fixture's tunnel serves a unix socket
    cli = Cli(provisioned.cli.store, dict(provisioned.cli.env, MACHINE_TUNNEL_TCP="1"))
    env_out = cli("env", "dev", "--shell", "powershell").stdout
    assert '$Env:DOCKER_HOST = "tcp://127.0.0.1:' in env_out
    host = env_out.split('$Env:DOCKER_HOST = "', 1)[1].split('"', 1)[0]
    server = subprocess.run(
        ["docker", "-H", host, "version", "--format", "{{.Server.Os}}"], capture_output=True, text=True, timeout=30
    )
    assert server.stdout.strip() == "linux", server.stderr


@pytest.fixture
def sudo_user(sshd: Sshd) -> Iterator[str]:
    """A non-root user with password-less sudo whose ~/.ssh/authorized_keys holds the test key."""
    if not shutil.which("sudo"):
        pytest.skip("sudo is not installed")
    name = "machinetest"
    sudoers = Path("/etc/sudoers.d/machinetest")
    # "*": no password, but not locked (sshd refuses locked accounts even for key logins)
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-p", "*", name], check=True, capture_output=True)
    home = Path(f"/home/{name}")
    (home / ".ssh").mkdir(mode=0o700, exist_ok=True)
    (home / ".ssh" / "authorized_keys").write_text(Path(f"{sshd.client_key}.pub").read_text())
    subprocess.run(["chown", "-R", f"{name}:", str(home / ".ssh")], check=True)
    sudoers.write_text(f"{name} ALL=(ALL) NOPASSWD:ALL\n")
    sudoers.chmod(0o440)
    try:
        yield name
    finally:
        sudoers.unlink(missing_ok=True)
        subprocess.run(["pkill", "-u", name], capture_output=True)
        subprocess.run(["userdel", "-r", name], capture_output=True)


def test_non_root_user_provisions_through_sudo(cli: Cli, sshd: Sshd, sudo_user: str) -> None:
    from tests.support.cli import agent_args, stop_agent

    base = Path(tempfile.mkdtemp(prefix="machine-nonroot-"))  # the user must reach the socket: not in pytest's 0700 tmp
    base.chmod(0o755)
    try:
        cli("create", *sshd.generic_args(), "--generic-ssh-user", sudo_user, *agent_args(base), "nonroot", timeout=300)
        socket_group = (base / "agent.sock").group()
        assert socket_group == sudo_user  # the user's own group may use the agent, nobody else
        host = cli("env", "nonroot").stdout.split('DOCKER_HOST="', 1)[1].split('"', 1)[0]
        server = subprocess.run(
            ["docker", "-H", host, "version", "--format", "{{.Server.Os}}"], capture_output=True, text=True, timeout=30
        )
        assert server.stdout.strip() == "linux", server.stderr
    finally:
        stop_tunnels(cli.store)
        stop_agent(base)
        shutil.rmtree(base, ignore_errors=True)
