"""kill and wait as dockerd answers them: SIGKILL returns once the exit is recorded; wait's conditions exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def state(agent: Agent, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(agent.docker("inspect", name).stdout)[0]["State"]
    return result


def test_kill_answers_once_the_exit_is_recorded(client: Any, agent: Agent) -> None:
    for number in range(3):  # a race lost once in a while would show in one of the rounds
        container = client.containers.run(IMAGE, ["sleep", "600"], detach=True, name=f"killed{number}")
        try:
            container.kill()
            after = state(agent, container.id)
            assert (after["Status"], after["Running"], after["ExitCode"]) == ("exited", False, 137)
            container.remove()  # no 409: it is not running any more
        finally:
            agent.docker("rm", "-f", container.id, check=False)


def test_kill_of_a_paused_container_kills_it(agent: Agent) -> None:
    agent.docker("run", "-d", "--name", "frozen", IMAGE, "sleep", "600")
    try:
        agent.docker("pause", "frozen")
        agent.docker("kill", "frozen")
        after = state(agent, "frozen")
        assert (after["Status"], after["Paused"], after["ExitCode"]) == ("exited", False, 137)
    finally:
        agent.docker("rm", "-f", "frozen")


def test_kill_with_another_signal_only_sends_it(agent: Agent) -> None:
    agent.docker(
        "run", "-d", "--name", "hupped", IMAGE, "sh", "-c", "trap 'echo got-hup' HUP; while :; do sleep 0.1; done"
    )
    try:
        agent.docker("kill", "-s", "HUP", "hupped")
        assert state(agent, "hupped")["Running"]
    finally:
        agent.docker("rm", "-f", "hupped")


def test_kill_of_a_container_under_a_restart_policy(client: Any, agent: Agent) -> None:
    agent.docker("run", "-d", "--name", "phoenix", "--restart", "always", IMAGE, "sleep", "600")
    try:
        pid = state(agent, "phoenix")["Pid"]
        agent.docker("kill", "phoenix")
        after = state(agent, "phoenix")
        assert after["Pid"] != pid and (after["Restarting"] or after["ExitCode"] == 137)
    finally:
        agent.docker("rm", "-f", "phoenix")
