"""kill and wait as dockerd answers them: SIGKILL returns once the exit is recorded; wait's conditions exactly."""

from __future__ import annotations

import json
import threading
import time
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


def waiter(client: Any, name: str, condition: str) -> tuple[threading.Thread, dict[str, Any]]:
    """docker-py's wait in a thread (its answer in the dict); the agent has answered its headers once it returns."""
    result: dict[str, Any] = {}

    def run() -> None:
        result.update(client.api.wait(name, timeout=300, condition=condition))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def settle(thread: threading.Thread, seconds: float = 3) -> None:
    """Give a waiter the time to be waiting (its wait must not be met by what happened before)."""
    thread.join(seconds)


def test_wait_returns_at_the_first_exit_under_a_restart_policy(agent: Agent) -> None:
    agent.docker("run", "-d", "--name", "always", "--restart", "always", IMAGE, "sh", "-c", "sleep 2; exit 3")
    try:
        assert agent.docker("wait", "always", timeout=120).stdout.strip() == "3"
    finally:
        agent.docker("rm", "-f", "always")


def test_wait_conditions(client: Any, agent: Agent) -> None:
    agent.docker("create", "--name", "waited", IMAGE, "sh", "-c", "sleep 1; exit 5")
    try:
        assert client.api.wait("waited", timeout=60) == {"StatusCode": 0, "Error": None}  # not running: at once
        next_exit, answer = waiter(client, "waited", "next-exit")
        settle(next_exit)
        assert next_exit.is_alive()
        agent.docker("start", "waited")
        next_exit.join(120)
        assert answer == {"StatusCode": 5, "Error": None}
        assert client.api.wait("waited", timeout=60, condition="not-running")["StatusCode"] == 5
        again, answer = waiter(client, "waited", "next-exit")  # an exit that already happened does not count
        removed, gone = waiter(client, "waited", "removed")
        settle(again)
        assert again.is_alive() and removed.is_alive()
        agent.docker("rm", "waited")
        again.join(120)
        removed.join(120)
        assert answer == {"StatusCode": 5, "Error": None} and gone == {"StatusCode": 5, "Error": None}
    finally:
        agent.docker("rm", "-f", "waited", check=False)


def test_wait_refuses_an_unknown_condition(client: Any, agent: Agent) -> None:
    import docker

    agent.docker("create", "--name", "conditioned", IMAGE, "true")
    try:
        with pytest.raises(docker.errors.APIError) as refused:
            client.api.wait("conditioned", timeout=60, condition="exited")
        assert refused.value.status_code == 400 and "invalid condition" in str(refused.value)
    finally:
        agent.docker("rm", "-f", "conditioned")


def test_kill_of_a_container_under_a_restart_policy(client: Any, agent: Agent) -> None:
    looping = 'trap "exit 3" USR1; while true; do sleep 0.2; done'  # as PID 1, it dies of USR1 only by a trap
    agent.docker("run", "-d", "--name", "phoenix", "--restart", "always", IMAGE, "sh", "-c", looping)
    try:
        pid = state(agent, "phoenix")["Pid"]
        agent.docker("kill", "-s", "USR1", "phoenix")  # not a fatal signal: the policy restarts it
        deadline = time.monotonic() + 60
        while state(agent, "phoenix")["Pid"] in (pid, 0) and time.monotonic() < deadline:
            time.sleep(0.1)
        after = state(agent, "phoenix")
        assert after["Status"] == "running" and after["Pid"] != pid
        agent.docker("kill", "phoenix")  # SIGKILL disables the policy until the next start, as in dockerd
        killed = state(agent, "phoenix")
        assert (killed["Status"], killed["Restarting"], killed["ExitCode"]) == ("exited", False, 137)
        agent.docker("start", "phoenix")
        assert state(agent, "phoenix")["Status"] == "running"
    finally:
        agent.docker("rm", "-f", "phoenix")


def test_wait_tells_why_a_start_failed(client: Any, agent: Agent) -> None:
    agent.docker("create", "--name", "unstartable", IMAGE, "no-such-binary")
    try:
        assert agent.docker("start", "unstartable", check=False).returncode != 0
        answer = client.api.wait("unstartable", timeout=60)
        assert answer["StatusCode"] == 127 and "no-such-binary" in answer["Error"]["Message"]
    finally:
        agent.docker("rm", "-f", "unstartable")
