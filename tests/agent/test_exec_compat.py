"""exec as dockerd runs it: the exec's own Tty decides the pty, the start request only the framing; a command
that cannot start exits 127 (missing) or 126 (not executable)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


def test_exec_exit_codes_on_crun(crun_agent: Agent) -> None:
    crun_agent.docker("run", "-d", "--name", "crun-exec", IMAGE, "sleep", "600")
    try:
        assert crun_agent.docker("exec", "crun-exec", "no-such-binary", check=False).returncode == 127
        assert crun_agent.docker("exec", "crun-exec", "/etc", check=False).returncode == 126
        assert crun_agent.docker("exec", "crun-exec", "sh", "-c", "exit 255", check=False).returncode == 255
    finally:
        crun_agent.docker("rm", "-f", "crun-exec")
