"""exec as dockerd runs it: the exec's own Tty decides the pty, the start request only the framing; a command
that cannot start exits 127 (missing) or 126 (not executable); an unknown user is told on the stream (126), and a
detached exec that cannot start is an error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


@pytest.fixture
def sleeper(agent: Agent) -> Iterator[str]:
    name = "exec-target"
    agent.docker("run", "-d", "--name", name, IMAGE, "sleep", "600")
    try:
        yield name
    finally:
        agent.docker("rm", "-f", name)


def test_exec_tty_is_the_exec_s_own(client: Any, sleeper: str) -> None:
    created = client.api.exec_create(sleeper, ["tty"], tty=True)
    assert client.api.exec_start(created["Id"]) == b"/dev/pts/0\r\n"  # docker-py sends Tty:false: framed, one stream
    assert client.api.exec_inspect(created["Id"])["ExitCode"] == 0
    result = client.containers.get(sleeper).exec_run(["tty"], tty=True)
    assert (result.exit_code, result.output) == (0, b"/dev/pts/0\r\n")
    plain = client.containers.get(sleeper).exec_run(["tty"])
    assert (plain.exit_code, plain.output) == (1, b"not a tty\n")


def test_exec_without_tty_started_raw_keeps_both_streams(client: Any, sleeper: str) -> None:
    created = client.api.exec_create(sleeper, ["sh", "-c", "echo out; echo err >&2"], stdout=True, stderr=True)
    output = client.api.exec_start(created["Id"], tty=True)  # raw: no frame headers
    assert sorted(output.splitlines()) == [b"err", b"out"]


def test_exec_of_a_command_that_cannot_start(agent: Agent, client: Any, sleeper: str) -> None:
    agent.docker("exec", sleeper, "sh", "-c", "echo echo > /script; chmod 644 /script")
    missing = agent.docker("exec", sleeper, "no-such-binary", check=False)
    assert missing.returncode == 127 and "no-such-binary" in missing.stdout + missing.stderr
    assert agent.docker("exec", sleeper, "/no/such/path", check=False).returncode == 127
    assert agent.docker("exec", sleeper, "/script", check=False).returncode == 126
    assert agent.docker("exec", sleeper, "/etc", check=False).returncode == 126
    assert agent.docker("exec", "-t", sleeper, "no-such-binary", check=False).returncode == 127
    assert client.containers.get(sleeper).exec_run(["no-such-binary"]).exit_code == 127
    assert agent.docker("exec", sleeper, "sh", "-c", "exit 255", check=False).returncode == 255  # it ran


def test_exec_as_an_unknown_user(agent: Agent, client: Any, sleeper: str) -> None:
    result = agent.docker("exec", "-u", "nosuchuser", sleeper, "true", check=False)
    assert result.returncode == 126
    assert "unable to find user nosuchuser" in result.stdout + result.stderr
    created = client.api.exec_create(sleeper, ["true"], user="nosuchuser")
    assert b"unable to find user nosuchuser" in client.api.exec_start(created["Id"])
    assert client.api.exec_inspect(created["Id"])["ExitCode"] == 126
    assert agent.docker("exec", "-u", "nobody", sleeper, "id", "-un").stdout == "nobody\n"  # a known one runs


def test_detached_exec_that_cannot_start_is_an_error(agent: Agent, client: Any, sleeper: str) -> None:
    missing = agent.docker("exec", "-d", sleeper, "no-such-binary", check=False)
    assert missing.returncode != 0 and "no-such-binary" in missing.stderr
    created = client.api.exec_create(sleeper, ["no-such-binary"])
    with pytest.raises(docker.errors.APIError) as refused:
        client.api.exec_start(created["Id"], detach=True)
    assert refused.value.status_code == 400
    assert client.api.exec_inspect(created["Id"])["ExitCode"] == 127
    unknown = agent.docker("exec", "-d", "-u", "nosuchuser", sleeper, "true", check=False)
    assert unknown.returncode != 0 and "unable to find user nosuchuser" in unknown.stderr
    started = client.api.exec_create(sleeper, ["sh", "-c", "echo ran > /detached"])
    assert not client.api.exec_start(started["Id"], detach=True)  # one that starts answers at once, empty
    deadline = time.monotonic() + 60
    while client.api.exec_inspect(started["Id"])["Running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.api.exec_inspect(started["Id"])["ExitCode"] == 0
    assert agent.docker("exec", sleeper, "cat", "/detached").stdout == "ran\n"


def test_exec_exit_codes_on_crun(crun_agent: Agent) -> None:
    crun_agent.docker("run", "-d", "--name", "crun-exec", IMAGE, "sleep", "600")
    try:
        assert crun_agent.docker("exec", "crun-exec", "no-such-binary", check=False).returncode == 127
        assert crun_agent.docker("exec", "crun-exec", "/etc", check=False).returncode == 126
        assert crun_agent.docker("exec", "crun-exec", "sh", "-c", "exit 255", check=False).returncode == 255
    finally:
        crun_agent.docker("rm", "-f", "crun-exec")
