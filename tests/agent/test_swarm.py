"""Swarm endpoints answer as a dockerd outside a swarm: 503, which clients such as docker-py's cleanups tolerate."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.agent import Agent
from tests.support.http import call

pytestmark = pytest.mark.containers

NOT_A_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join"'


def test_swarm_endpoints_say_this_node_is_not_a_manager(agent: Agent) -> None:
    for method, path in [
        ("GET", "/swarm"),
        ("GET", "/services"),
        ("POST", "/services/create"),
        ("GET", "/nodes"),
        ("GET", "/tasks"),
        ("GET", "/secrets"),
        ("GET", "/configs"),
        ("DELETE", "/configs/abc"),
        ("GET", "/swarm/unlockkey"),
    ]:
        for prefix in ("", "/v1.45"):
            answer = call(agent.socket, method, prefix + path)
            assert answer.status == 503 and answer.message.startswith(NOT_A_MANAGER), (method, path, answer.body)
    left = call(agent.socket, "POST", "/swarm/leave?force=1")
    assert left.status == 503 and left.message == "This node is not part of a swarm"
    init = call(agent.socket, "POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377"})
    assert init.status == 400 and "swarm mode is not supported" in init.message


def test_clients_see_an_inactive_swarm(agent: Agent, client: Any) -> None:
    import docker

    assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
    assert client.api.leave_swarm(force=True)  # docker-py tolerates exactly this 503 (its tests' cleanups use it)
    with pytest.raises(docker.errors.APIError) as refused:
        client.api.leave_swarm()
    assert refused.value.status_code == 503
    with pytest.raises(docker.errors.APIError) as listing:
        client.services.list()
    assert listing.value.status_code == 503 and "not a swarm manager" in str(listing.value)
    assert "Swarm: inactive" in agent.docker("info").stdout
    nodes = agent.docker("node", "ls", check=False)
    assert nodes.returncode != 0 and "This node is not a swarm manager" in nodes.stderr
