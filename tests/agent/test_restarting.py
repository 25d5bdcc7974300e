"""A container waiting for the restart its policy gives it, as dockerd shows and treats it: State.Status
"restarting" (Running and Restarting true, as dockerd counts it running), "Restarting (N) ... ago" in docker ps;
stop, kill and rm -f cancel the pending restart; a restart that fails leaves it exited with the error."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def state(agent: Agent, name: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(agent.docker("inspect", name).stdout)[0]
    return {**info["State"], "RestartCount": info["RestartCount"]}


def until(agent: Agent, name: str, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The container's state once `test` holds (within a loaded host's patience)."""
    deadline = time.monotonic() + 120
    while True:
        now = state(agent, name)
        if test(now):
            return now
        assert time.monotonic() < deadline, f"never reached: {now}"
        time.sleep(0.05)


def restarting(s: dict[str, Any], count: int = 7) -> bool:
    """Waiting for restart number `count` (the 7th comes 6.4 s after the exit: time to look at it)."""
    return bool(s["Status"] == "restarting" and s["RestartCount"] >= count)


@pytest.fixture
def bouncer(agent: Agent) -> Iterator[str]:
    """A container that exits 1 at once, under --restart always."""
    agent.docker("run", "-d", "--name", "bouncer", "--restart", "always", IMAGE, "sh", "-c", "exit 1")
    yield "bouncer"
    agent.docker("rm", "-f", "bouncer", check=False)


def test_a_restarting_container_shows_as_dockerd_shows_it(agent: Agent, bouncer: str) -> None:
    s = until(agent, bouncer, restarting)
    assert (s["Running"], s["Restarting"], s["Paused"], s["Pid"], s["ExitCode"]) == (True, True, False, 0, 1)
    listed = agent.docker("ps", "--filter", "name=bouncer", "--format", "{{.Status}}").stdout  # no -a needed
    assert listed.startswith("Restarting (1) ") and listed.strip().endswith("ago")
    assert agent.docker("ps", "-q", "--filter", "status=restarting").stdout.strip()
    exec_ = agent.docker("exec", bouncer, "true", check=False)
    assert exec_.returncode != 0 and "is restarting, wait until the container is running" in exec_.stderr
    rm = agent.docker("rm", bouncer, check=False)
    assert rm.returncode != 0 and "You cannot remove a restarting container" in rm.stderr


def test_stop_cancels_the_pending_restart_and_wakes_waiters(agent: Agent, bouncer: str) -> None:
    s = until(agent, bouncer, restarting)
    waiter = subprocess.Popen(["docker", "wait", bouncer], env=agent.env, stdout=subprocess.PIPE, text=True)
    try:
        agent.docker("stop", bouncer)
        stopped = state(agent, bouncer)
        assert (stopped["Status"], stopped["Running"], stopped["Restarting"]) == ("exited", False, False)
        assert waiter.communicate(timeout=60)[0].strip() == "1"
    finally:
        waiter.kill()
        waiter.wait()
    time.sleep(0.1 * 2 ** (s["RestartCount"] - 1) + 2)  # past the restart it had pending: it never came
    after = state(agent, bouncer)
    assert (after["Status"], after["RestartCount"]) == ("exited", stopped["RestartCount"])
    assert agent.docker("stop", bouncer, check=False).returncode == 0  # already stopped: 304, as dockerd


def test_kill_and_rm_force_of_a_restarting_container(agent: Agent, bouncer: str) -> None:
    until(agent, bouncer, restarting)
    agent.docker("kill", bouncer)
    killed = state(agent, bouncer)
    assert (killed["Status"], killed["Restarting"]) == ("exited", False)
    agent.docker("start", bouncer)  # it runs (and restarts) again
    until(agent, bouncer, lambda s: restarting(s, killed["RestartCount"] + 1))
    agent.docker("rm", "-f", bouncer)
    assert agent.docker("inspect", bouncer, check=False).returncode != 0


def test_a_failed_restart_leaves_it_exited_with_the_error(agent: Agent, tmp_path: Path) -> None:
    source = tmp_path / "data"
    source.mkdir()
    mount = f"type=bind,src={source},dst=/data"
    agent.docker("run", "-d", "--name", "doomed", "--restart", "always", "--mount", mount, IMAGE, "sh", "-c", "exit 1")
    try:
        until(agent, "doomed", lambda s: s["RestartCount"] >= 1)
        shutil.rmtree(source)  # the next start cannot mount it
        s = until(agent, "doomed", lambda s: s["Status"] == "exited")
        assert (s["Running"], s["Restarting"]) == (False, False) and str(source) in s["Error"]
        assert agent.docker("ps", "-q", "--filter", "name=doomed").stdout == ""
        waited = agent.docker("wait", "doomed").stdout.strip()
        assert waited == str(s["ExitCode"]) and waited != "0"
    finally:
        agent.docker("rm", "-f", "doomed", check=False)
