"""docker update on real containers (runc and crun): new limits reach a running container's cgroups at once, are
recorded in its HostConfig and hold after a restart; a stopped container's update is only recorded; what dockerd
refuses, or this host cannot honour, is refused with a clear 4xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers

MIB = 1 << 20
V2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
# the container's own cgroup files, read inside it: memory limit, CPU quota, pids limit
INSIDE = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/pids.max")
    if V2
    else (
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        "/sys/fs/cgroup/pids/pids.max",
    )
)
# waits for /go, then allocates 200 MB at once
HOG = "while [ ! -e /go ]; do sleep 0.1; done; exec dd if=/dev/zero of=/dev/null bs=200M"


@pytest.fixture
def names(agent: Agent) -> Iterator[list[str]]:
    """Names of containers the test makes; removed afterwards."""
    made: list[str] = []
    yield made
    for name in made:
        agent.docker("rm", "-f", name, check=False)


def _limits(agent: Agent, name: str) -> list[str]:
    """Memory limit, CPU quota, pids limit, as the container sees its cgroup."""
    return [line.split()[0] for line in agent.docker("exec", name, "cat", *INSIDE).stdout.splitlines()]


def _host_config(agent: Agent, name: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(agent.docker("inspect", name).stdout)[0]["HostConfig"]
    return config


def _updates_a_running_container(agent: Agent, name: str) -> None:
    agent.docker("run", "-d", "--name", name, IMAGE, "sleep", "600")
    before = _limits(agent, name)
    assert before[2] == "max" and int(before[0]) > 1 << 40  # no limits yet
    out = agent.docker(
        "update", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--pids-limit", "50",
        "--restart", "always", name,
    )  # fmt: skip
    assert out.stdout.strip() == name
    assert _limits(agent, name) == [str(64 * MIB), "50000", "50"]
    host = _host_config(agent, name)
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"]) == (
        64 * MIB,
        128 * MIB,
        500_000_000,
        50,
    )
    assert host["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}
    agent.docker("restart", "-t", "0", name)  # the new values hold after a restart
    assert _limits(agent, name) == [str(64 * MIB), "50000", "50"]
    agent.docker("update", "--pids-limit", "-1", "--cpu-shares", "512", name)  # -1 lifts the limit
    assert _limits(agent, name)[2] == "max" and _host_config(agent, name)["PidsLimit"] == 0


def test_update_a_running_container_live(agent: Agent, names: list[str]) -> None:
    names.append("upd")
    _updates_a_running_container(agent, "upd")


def test_a_hog_is_oom_killed_at_the_updated_limit(agent: Agent, names: list[str]) -> None:
    names.append("updhog")
    agent.docker("run", "-d", "--name", "updhog", "--memory", "512m", IMAGE, "sh", "-c", HOG)
    agent.docker("update", "--memory", "32m", "updhog")  # below its swap (1g): no need to give the swap
    assert _host_config(agent, "updhog")["MemorySwap"] == 1024 * MIB  # as dockerd records the default
    agent.docker("exec", "updhog", "touch", "/go")
    assert agent.docker("wait", "updhog").stdout.strip() == "137"
    state = json.loads(agent.docker("inspect", "updhog").stdout)[0]["State"]
    assert state["OOMKilled"] is True


def test_a_stopped_container_update_is_recorded_and_applied_at_start(agent: Agent, names: list[str]) -> None:
    names.append("updstopped")
    agent.docker("create", "--name", "updstopped", IMAGE, "sleep", "600")
    agent.docker("update", "--pids-limit", "30", "--cpu-quota", "20000", "updstopped")
    host = _host_config(agent, "updstopped")
    assert (host["PidsLimit"], host["CpuQuota"]) == (30, 20000)
    agent.docker("start", "updstopped")
    assert _limits(agent, "updstopped")[1:] == ["20000", "30"]


@pytest.mark.parametrize(
    ("create", "options", "reason"),
    [
        ((), ("--memory", "4m"), "Minimum memory limit allowed is 6MB"),
        ((), ("--memory", "64m"), "update the memoryswap at the same time"),  # its swap is unset: dockerd's rule
        ((), ("--memory", "64m", "--memory-swap", "32m"), "Minimum memoryswap limit should be larger"),
        ((), ("--blkio-weight", "300"), "--blkio-weight (HostConfig.BlkioWeight) is not supported"),
        ((), ("--cpus", "64"), "Range of CPUs is from 0.01 to"),
        ((), ("--cpuset-cpus", "64"), "Requested CPUs are not available"),
        ((), ("--restart", "sometimes"), "'sometimes' is not a restart policy"),
        ((), ("--restart", "always:3"), "maximum retry count can only be used with 'on-failure'"),
        (("--rm",), ("--restart", "always"), "Restart policy cannot be updated because AutoRemove is enabled"),
        (("--cpu-quota", "50000"), ("--cpus", "1"), "Nano CPUs cannot be updated as CPU Quota has already been set"),
    ],
)
def test_updates_that_cannot_be_made_are_refused(
    agent: Agent, names: list[str], create: tuple[str, ...], options: tuple[str, ...], reason: str
) -> None:
    names.append("updrefused")
    agent.docker("run", "-d", "--name", "updrefused", *create, IMAGE, "sleep", "600")
    before = _host_config(agent, "updrefused")
    refused = agent.docker("update", *options, "updrefused", check=False)
    assert refused.returncode != 0 and reason in refused.stderr, refused.stderr
    assert _host_config(agent, "updrefused") == before  # nothing changed


def test_docker_py_update(agent: Agent, names: list[str], client: docker.DockerClient) -> None:
    names.append("updpy")
    c = client.containers.run(IMAGE, ["sleep", "600"], name="updpy", detach=True, mem_limit="64m")
    assert c.update(mem_limit="48m", cpu_shares=256, restart_policy={"Name": "on-failure", "MaximumRetryCount": 3})
    c.reload()
    assert (c.attrs["HostConfig"]["Memory"], c.attrs["HostConfig"]["CpuShares"]) == (48 * MIB, 256)
    assert c.attrs["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert _limits(agent, "updpy")[0] == str(48 * MIB)
    with pytest.raises(docker.errors.APIError) as refused:
        c.update(mem_limit="1m")
    assert refused.value.status_code == 400 and "Minimum memory limit" in str(refused.value)
    fixed = client.api._post_json(client.api._url("/containers/updpy/update"), data={"Ulimits": [{"Name": "nofile"}]})
    assert fixed.status_code == 400 and "Ulimits cannot be updated" in fixed.json()["message"]


def test_crun_updates_a_running_container(crun_agent: Agent) -> None:
    try:
        _updates_a_running_container(crun_agent, "crunupd")
    finally:
        crun_agent.docker("rm", "-f", "crunupd", check=False)


def test_a_memory_limit_below_the_usage_is_refused(agent: Agent, names: list[str]) -> None:
    names.append("updbusy")
    # tmpfs pages stay charged to the container; the file gets its name once all 24 MB are written
    fill = "head -c 24m /dev/zero > /dev/shm/part && mv /dev/shm/part /dev/shm/fill && sleep 600"
    agent.docker("run", "-d", "--name", "updbusy", "--memory", "64m", "--memory-swap", "64m", IMAGE, "sh", "-c", fill)
    agent.docker("exec", "updbusy", "sh", "-c", "while [ ! -e /dev/shm/fill ]; do sleep 0.1; done")
    refused = agent.docker("update", "--memory", "8m", "--memory-swap", "8m", "updbusy", check=False)
    assert refused.returncode != 0 and "below what the container uses now" in refused.stderr, refused.stderr
    assert _host_config(agent, "updbusy")["Memory"] == 64 * MIB
