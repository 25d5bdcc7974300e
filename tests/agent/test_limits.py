"""Resource limits on real containers: memory (OOM kill, swap, reservation), CPU quota, shares and cpuset, pids,
ulimits and /dev/shm, read back from the container's cgroup files on the host and inside; options this host
cannot honour are refused with the reason (docker CLI and docker-py)."""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from guest.containers import caps
from tests.support.agent import IMAGE, REPO, Agent

pytestmark = pytest.mark.containers

MIB = 1 << 20
V2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()


def _cgroup(cid: str, controller: str, v1_file: str, v2_file: str) -> str:
    """A container's cgroup file, read on the host."""
    if V2:
        return (Path("/sys/fs/cgroup/machine") / cid / v2_file).read_text()
    return (Path("/sys/fs/cgroup") / controller / "machine" / cid / v1_file).read_text()


def _kv(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in text.splitlines())}


@pytest.fixture
def sleeper(agent: Agent) -> Iterator[list[str]]:
    """Names of detached containers the test starts; removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        agent.docker("rm", "-f", name, check=False)


def _run_detached(agent: Agent, names: list[str], name: str, *options: str) -> str:
    names.append(name)
    return agent.docker("run", "-d", "--name", name, *options, IMAGE, "sleep", "600").stdout.strip()


# 32 MB for a container whose first process, dd, allocates a 200 MB buffer
HOG = ("--memory", "32m", IMAGE, "dd", "if=/dev/zero", "of=/dev/null", "bs=200M")


def test_a_memory_hog_is_oom_killed(agent: Agent) -> None:
    try:
        hog = agent.docker("run", "--name", "hog", *HOG, check=False)
        assert hog.returncode == 137
        state = json.loads(agent.docker("inspect", "hog").stdout)[0]["State"]
        assert (state["ExitCode"], state["OOMKilled"], state["Status"]) == (137, True, "exited")
        agent.docker("start", "-a", "hog", check=False)  # it runs again, and is killed again
        state = json.loads(agent.docker("inspect", "hog").stdout)[0]["State"]
        assert (state["ExitCode"], state["OOMKilled"]) == (137, True)
    finally:
        agent.docker("rm", "-f", "hog", check=False)
    assert not (REPO / "oom").exists()  # conmon's note of the OOM kill stays in the bundle, not the agent's cwd
    fits = agent.docker(
        "run", "--rm", "--memory", "32m", IMAGE, "dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1"
    )
    assert fits.returncode == 0


def test_memory_limits_reach_the_cgroup_and_stats(
    agent: Agent, sleeper: list[str], client: docker.DockerClient
) -> None:
    cid = _run_detached(
        agent, sleeper, "memlimits", "--memory", "64m", "--memory-swap", "100m", "--memory-reservation", "32m"
    )
    assert int(_cgroup(cid, "memory", "memory.limit_in_bytes", "memory.max")) == 64 * MIB
    assert int(_cgroup(cid, "memory", "memory.soft_limit_in_bytes", "memory.low")) == 32 * MIB
    swap = int(_cgroup(cid, "memory", "memory.memsw.limit_in_bytes", "memory.swap.max"))
    assert swap == (100 - 64 if V2 else 100) * MIB  # OCI's swap is memory+swap; v2's file holds the swap alone
    inside = "/sys/fs/cgroup/memory.max" if V2 else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    assert int(agent.docker("exec", "memlimits", "cat", inside).stdout) == 64 * MIB
    usage = agent.docker("stats", "--no-stream", "--format", "{{.MemUsage}}", "memlimits").stdout
    assert usage.strip().endswith("/ 64MiB")
    assert client.containers.get("memlimits").stats(stream=False)["memory_stats"]["limit"] == 64 * MIB
    default_swap = _run_detached(agent, sleeper, "swapdefault", "--memory", "64m")  # Docker: as much swap as memory
    assert int(_cgroup(default_swap, "memory", "memory.memsw.limit_in_bytes", "memory.swap.max")) == 64 * MIB * (
        1 if V2 else 2
    )
    unlimited = _run_detached(agent, sleeper, "swapunlimited", "--memory", "64m", "--memory-swap", "-1")
    swap_max = _cgroup(unlimited, "memory", "memory.memsw.limit_in_bytes", "memory.swap.max").strip()
    assert swap_max == "max" or int(swap_max) > 1 << 62


@pytest.mark.skipif(V2, reason="cgroup v2 has no OOM-killer switch: refused there (unit-tested)")
def test_oom_kill_disable_keeps_the_hog_alive(agent: Agent, sleeper: list[str]) -> None:
    sleeper.append("nokill")
    cid = agent.docker(
        "run",
        "-d",
        "--name",
        "nokill",
        "--memory",
        "32m",
        "--oom-kill-disable",
        IMAGE,
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=200M",
    ).stdout.strip()
    deadline = time.monotonic() + 60
    while int(_cgroup(cid, "memory", "memory.failcnt", "")) == 0:  # the hog has reached its limit
        assert time.monotonic() < deadline, "the hog never reached its limit"
        time.sleep(0.1)
    control = _kv(_cgroup(cid, "memory", "memory.oom_control", ""))
    assert control["oom_kill_disable"] == 1 and control["oom_kill"] == 0
    state = json.loads(agent.docker("inspect", "nokill").stdout)[0]["State"]
    assert state["Running"] and not state["OOMKilled"]


def test_pids_limit_stops_a_fork_bomb(agent: Agent) -> None:
    bomb = (  # a bounded bomb (60 sleepers) in a child shell; then read the counters with builtins (no fork)
        "sh -c 'i=0; while [ $i -lt 60 ]; do sleep 60 & i=$((i+1)); done' 2>/dev/null; "
        "d=/sys/fs/cgroup/pids; [ -e $d/pids.max ] || d=/sys/fs/cgroup; "
        "read current < $d/pids.current; read max < $d/pids.max; echo $current $max"
    )
    out = agent.docker("run", "--rm", "--pids-limit", "20", IMAGE, "sh", "-c", bomb).stdout.split()
    assert out[1] == "20" and 15 <= int(out[0]) <= 20  # stopped at the limit (less the bomb's own shell, gone)
    unlimited = agent.docker("run", "--rm", IMAGE, "sh", "-c", bomb).stdout.split()
    assert int(unlimited[0]) > 60  # without the limit all 60 started


def test_cpu_quota_shares_and_cpuset(agent: Agent, sleeper: list[str], client: docker.DockerClient) -> None:
    cpu = "1" if len(os.sched_getaffinity(0)) > 1 else "0"
    cid = _run_detached(agent, sleeper, "cpulimits", "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", cpu)
    if V2:
        assert _cgroup(cid, "cpu", "", "cpu.max").split() == ["50000", "100000"]
    else:
        assert int(_cgroup(cid, "cpu", "cpu.cfs_quota_us", "")) == 50000
        assert int(_cgroup(cid, "cpu", "cpu.cfs_period_us", "")) == 100000
        assert int(_cgroup(cid, "cpu", "cpu.shares", "")) == 512
    assert _cgroup(cid, "cpuset", "cpuset.cpus", "cpuset.cpus").strip() == cpu
    quota_file = "/sys/fs/cgroup/cpu.max" if V2 else "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"
    inside = agent.docker(
        "exec", "cpulimits", "sh", "-c", f"cat {quota_file}; grep Cpus_allowed_list /proc/self/status"
    ).stdout.split()
    assert inside[0] == "50000" and inside[-1] == cpu
    # the quota is enforced: CFS counts bandwidth periods once the container runs (no timing involved)
    agent.docker("exec", "cpulimits", "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
    periods = _kv(_cgroup(cid, "cpu", "cpu.stat", "cpu.stat"))["nr_periods"]
    assert periods > 0
    stats = client.containers.get("cpulimits").stats(stream=False)
    assert stats["cpu_stats"]["throttling_data"]["periods"] >= periods


def test_ulimits_and_shm_size_inside(agent: Agent) -> None:
    out = agent.docker(
        "run",
        "--rm",
        "--ulimit",
        "nofile=100:200",
        "--ulimit",
        "nproc=50:60",
        "--shm-size",
        "16m",
        IMAGE,
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; ulimit -u; df -k /dev/shm | tail -1",
    ).stdout.split("\n")
    assert out[:3] == ["100", "200", "50"]
    assert out[3].split()[1] == "16384"
    default = agent.docker("run", "--rm", IMAGE, "sh", "-c", "df -k /dev/shm | tail -1").stdout.split()
    assert default[1] == "65536"  # Docker's 64 MB


@pytest.mark.skipif(caps.effective("CAP_SYS_RESOURCE"), reason="the agent could raise the limit here")
def test_a_ulimit_above_the_hosts_hard_limit_is_refused_with_it(agent: Agent) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    refused = agent.docker("create", "--ulimit", f"nofile=1024:{hard + 1}", IMAGE, check=False)
    assert refused.returncode != 0 and f"this host's hard limit is {hard}" in refused.stderr
    agent.docker("run", "--rm", "--ulimit", f"nofile={hard}:{hard}", IMAGE, "true")


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (("--memory", "4m"), "Minimum memory limit allowed is 6MB"),
        (("--memory", "64m", "--memory-swap", "32m"), "Minimum memoryswap limit should be larger than memory limit"),
        (("--memory-reservation", "100m", "--memory", "64m"), "can not be less than memory reservation"),
        (("--cpus", "64"), "Range of CPUs is from 0.01 to"),
        (("--cpuset-cpus", "64"), "Requested CPUs are not available - requested 64, available: 0-"),
        (("--cpuset-cpus", "a-b"), "Invalid value a-b for cpuset cpus"),
        (("--cpu-shares", "1"), "invalid --cpu-shares 1"),
        (("--ulimit", "nofile=200:100"), "soft limit must be less than or equal to hard limit"),
        (("--blkio-weight", "300"), "--blkio-weight (HostConfig.BlkioWeight) is not supported"),
        (("--device", "/dev/null"), "--device (HostConfig.Devices) is not supported"),
        (("--oom-score-adj", "2000"), "range for oom score adj is [-1000, 1000]"),
    ],
)
def test_limits_that_cannot_be_honoured_are_refused(agent: Agent, options: tuple[str, ...], reason: str) -> None:
    refused = agent.docker("create", *options, IMAGE, check=False)
    assert refused.returncode != 0 and reason in refused.stderr, refused.stderr


def test_docker_py_sets_limits(client: docker.DockerClient) -> None:
    script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; ulimit -n"
    out = client.containers.run(
        IMAGE,
        ["sh", "-c", script],
        mem_limit="48m",
        pids_limit=30,
        nano_cpus=250_000_000,
        ulimits=[docker.types.Ulimit(name="nofile", soft=64, hard=64)],
        remove=True,
    )
    assert out.decode().split() == [str(48 * MIB), "30", "64"]
    with pytest.raises(docker.errors.APIError) as refused:
        client.containers.create(IMAGE, mem_limit="1m")
    assert refused.value.status_code == 400 and "Minimum memory limit" in str(refused.value)
    created = client.api.create_container(IMAGE, host_config=client.api.create_host_config(oom_kill_disable=True))
    try:
        assert created["Warnings"] and "no memory limit is set" in created["Warnings"][0]
    finally:
        client.api.remove_container(created["Id"])


def test_crun_applies_the_same_limits(crun_agent: Agent) -> None:
    hog = crun_agent.docker("run", "--name", "crunhog", *HOG, check=False)
    try:
        assert hog.returncode == 137
        assert json.loads(crun_agent.docker("inspect", "crunhog").stdout)[0]["State"]["OOMKilled"] is True
    finally:
        crun_agent.docker("rm", "-f", "crunhog")
    script = (
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares; "
        "ulimit -n; df -k /dev/shm | tail -1"
    )
    out = crun_agent.docker(
        "run",
        "--rm",
        "--cpus",
        "1.5",
        "--pids-limit",
        "25",
        "--cpu-shares",
        "256",
        "--ulimit",
        "nofile=90:90",
        "--shm-size",
        "8m",
        IMAGE,
        "sh",
        "-c",
        script,
    ).stdout.split()
    assert out[:4] == ["150000", "25", "256", "90"] and out[5] == "8192"
