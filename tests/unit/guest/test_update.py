"""docker update's merge rules (dockerd's UpdateContainer) and what the runtime's update is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guest.containers import update
from guest.containers.record import Container
from guest.errors import Conflict, InvalidInput
from tests.unit.guest.test_confinement import facts

MIB = 1 << 20


def container(**host: Any) -> Container:
    return Container(Path("/nonexistent"), {"Id": "c" * 64, "HostConfig": host})


def test_zero_leaves_a_value_and_the_default_swap_is_kept() -> None:
    host, warnings = update.merged(container(Memory=64 * MIB, CpuShares=512), {"Memory": 100 * MIB}, facts())
    assert (host["Memory"], host["MemorySwap"], host["CpuShares"], warnings) == (100 * MIB, 128 * MIB, 512, [])
    host, _ = update.merged(container(PidsLimit=50), {"PidsLimit": -1, "CpusetCpus": "1"}, facts())
    assert (host["PidsLimit"], host["CpusetCpus"]) == (0, "1")
    host, _ = update.merged(container(), {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}, facts())
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}


@pytest.mark.parametrize(
    ("old", "request_", "error", "reason"),
    [
        ({}, {"Memory": 64 * MIB}, Conflict, "update the memoryswap at the same time"),
        ({}, {"Memory": 4 * MIB, "MemorySwap": 8 * MIB}, InvalidInput, "Minimum memory limit allowed is 6MB"),
        ({"CpuPeriod": 50000}, {"NanoCpus": 10**9}, Conflict, "Nano CPUs cannot be updated as CPU Period"),
        ({"NanoCpus": 10**9}, {"CpuQuota": 50000}, Conflict, "CPU Quota cannot be updated as NanoCPUs"),
        ({"AutoRemove": True}, {"RestartPolicy": {"Name": "always"}}, Conflict, "AutoRemove is enabled"),
        ({}, {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}}, InvalidInput, "only be used with"),
        ({}, {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}}, InvalidInput, "cannot be negative"),
        ({}, {"BlkioWeight": 300}, InvalidInput, "--blkio-weight (HostConfig.BlkioWeight) is not supported"),
        ({}, {"KernelMemory": 64 * MIB}, InvalidInput, "--kernel-memory (HostConfig.KernelMemory) is not supported"),
        ({}, {"Ulimits": [{"Name": "nofile"}]}, InvalidInput, "Ulimits cannot be updated"),
    ],
)
def test_refusals(old: dict[str, Any], request_: dict[str, Any], error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as refused:
        update.merged(container(**old), request_, facts())
    assert reason in str(refused.value)


def test_the_runtime_gets_the_limits_it_writes_live() -> None:
    host = {"Memory": 64 * MIB, "MemorySwap": 128 * MIB, "NanoCpus": 5 * 10**8, "PidsLimit": 50, "Ulimits": []}
    assert update.live(host, {}, facts()) == {
        "memory": {"limit": 64 * MIB, "swap": 128 * MIB},
        "cpu": {"quota": 50000, "period": 100000},
        "pids": {"limit": 50},
    }
    assert update.live({"CpuQuota": -1}, {"CpuQuota": -1}, facts()) == {"cpu": {"quota": -1}}
