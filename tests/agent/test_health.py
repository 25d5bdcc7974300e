"""Health checks as dockerd runs them: probes inside the container, State.Health, events, `docker ps`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def health(agent: Agent, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(agent.docker("inspect", name).stdout)[0]["State"].get("Health") or {}
    return found


def wait_for(agent: Agent, name: str, status: str, seconds: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        current = health(agent, name)
        if current.get("Status") == status:
            return current
        assert time.monotonic() < deadline, f"{name} never became {status}: {current}"
        time.sleep(0.3)


def test_health_cmd_flags_status_streak_log_events_and_ps(agent: Agent) -> None:
    since = str(int(time.time()) - 1)
    agent.docker(
        "run", "-d", "--name", "probed", "--health-cmd", "cat /tmp/ok", "--health-interval", "1s",
        "--health-retries", "2", "--health-timeout", "5s", IMAGE, "sh", "-c", "touch /tmp/ok; sleep 600",
    )  # fmt: skip
    try:
        assert health(agent, "probed")["Status"] in ("starting", "healthy")
        healthy = wait_for(agent, "probed", "healthy")
        assert healthy["FailingStreak"] == 0 and healthy["Log"][-1]["ExitCode"] == 0
        assert "(healthy)" in agent.docker("ps", "--filter", "name=probed").stdout
        agent.docker("exec", "probed", "rm", "/tmp/ok")
        unhealthy = wait_for(agent, "probed", "unhealthy")
        assert unhealthy["FailingStreak"] >= 2 and "No such file" in unhealthy["Log"][-1]["Output"]
        assert len(unhealthy["Log"]) <= 5
        assert "(unhealthy)" in agent.docker("ps", "--filter", "name=probed").stdout
        events = agent.docker(
            "events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", "container=probed",
            "--format", "{{.Action}}",
        ).stdout.split("\n")  # fmt: skip
        assert events.index("health_status: healthy") < events.index("health_status: unhealthy")
    finally:
        agent.docker("rm", "-f", "probed")


def test_dockerfile_healthcheck_and_no_healthcheck(agent: Agent, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        f'FROM {IMAGE}\nHEALTHCHECK --interval=1s --timeout=5s CMD ["sh", "-c", "echo probing; exit 0"]\n'
    )
    agent.docker("build", "-t", "healthy:1", str(tmp_path), timeout=300)
    agent.docker("run", "-d", "--name", "from-image", "healthy:1", "sleep", "600")
    agent.docker("run", "-d", "--name", "unchecked", "--no-healthcheck", "healthy:1", "sleep", "600")
    try:
        assert wait_for(agent, "from-image", "healthy")["Log"][-1]["Output"] == "probing\n"
        assert health(agent, "unchecked") == {}
        assert "(health" not in agent.docker("ps", "--filter", "name=unchecked").stdout
    finally:
        agent.docker("rm", "-f", "from-image", "unchecked")
        agent.docker("rmi", "healthy:1")


def test_missing_probe_command_and_bad_settings(agent: Agent) -> None:
    agent.docker("run", "-d", "--name", "no-probe", "--health-cmd", "no-such-probe", "--health-interval", "1s",
                 "--health-retries", "1", IMAGE, "sleep", "600")  # fmt: skip
    try:
        result = wait_for(agent, "no-probe", "unhealthy")["Log"][-1]
        assert result["ExitCode"] in (126, 127) and "no-such-probe" in result["Output"]
    finally:
        agent.docker("rm", "-f", "no-probe")
    refused = agent.docker("create", "--health-cmd", "true", "--health-retries", "-1", IMAGE, "true", check=False)
    assert refused.returncode != 0 and "cannot be negative" in refused.stderr
