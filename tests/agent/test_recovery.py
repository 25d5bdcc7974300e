"""Containers outlive the agent: kill -9 it, start it again, everything is still there."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def test_containers_survive_an_agent_kill(fresh_agent: Agent) -> None:
    agent = fresh_agent
    agent.docker("run", "-d", "--name", "survivor", IMAGE, "sh", "-c", "echo before; sleep 2; echo after; sleep 600")
    agent.docker("run", "--name", "finished", IMAGE, "sh", "-c", "echo done; exit 7", check=False)
    agent.docker("run", "-d", "--name", "exits-while-down", IMAGE, "sh", "-c", "sleep 1; exit 9")
    agent.kill(signal.SIGKILL)
    time.sleep(2.5)  # `exits-while-down` exits and `survivor` logs while no agent runs
    agent.start()
    deadline = time.monotonic() + 15  # a loaded machine may need longer than the sleeps above
    while time.monotonic() < deadline:
        rows = agent.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
        if "exits-while-down Exited" in rows and "after" in agent.docker("logs", "survivor").stdout:
            break
        time.sleep(0.2)
    assert "survivor Up" in rows
    assert "finished Exited (7)" in rows
    assert "exits-while-down Exited (9)" in rows
    assert agent.docker("logs", "survivor").stdout == "before\nafter\n"
    assert agent.docker("logs", "finished").stdout == "done\n"
    assert agent.docker("exec", "survivor", "echo", "still-here").stdout == "still-here\n"
    agent.docker("stop", "-t", "0", "survivor")
    state = json.loads(agent.docker("inspect", "survivor").stdout)[0]["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 137


def test_restart_always_comes_back_after_the_agent(fresh_agent: Agent) -> None:
    agent = fresh_agent
    agent.docker("run", "-d", "--name", "always", "--restart", "always", IMAGE, "sh", "-c", "sleep 1; exit 2")
    agent.kill(signal.SIGKILL)
    time.sleep(1.5)  # exits while the agent is down
    agent.start()
    deadline = time.monotonic() + 15
    count = 0
    while time.monotonic() < deadline:
        count = json.loads(agent.docker("inspect", "always").stdout)[0]["RestartCount"]
        if count >= 1:
            break
        time.sleep(0.2)
    assert count >= 1
    agent.docker("rm", "-f", "always")
