"""Container resource usage from the container's cgroup (v1 or v2), in the Engine API's stats shape."""

from __future__ import annotations

import os
from typing import Any

from .. import times
from . import cgroups
from .cgroups import read_int, read_kv
from .record import Container


def _system_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def sample(c: Container, previous: dict[str, Any] | None) -> dict[str, Any]:
    memory, pids_dir = cgroups.path(c.id, "memory"), cgroups.path(c.id, "pids")
    cpu_stat = read_kv(cgroups.path(c.id, "cpu") / "cpu.stat")
    if cgroups.v2():
        cpu_total = cpu_stat.get("usage_usec", 0) * 1000
        mem_usage, mem_limit = read_int(memory / "memory.current"), read_int(memory / "memory.max")
    else:
        cpu_total = read_int(cgroups.path(c.id, "cpuacct") / "cpuacct.usage")
        mem_usage, mem_limit = read_int(memory / "memory.usage_in_bytes"), read_int(memory / "memory.limit_in_bytes")
    mem_stats = read_kv(memory / "memory.stat")
    pids, pids_limit = read_int(pids_dir / "pids.current"), read_int(pids_dir / "pids.max")
    throttling = {
        "periods": cpu_stat.get("nr_periods", 0),
        "throttled_periods": cpu_stat.get("nr_throttled", 0),
        "throttled_time": cpu_stat.get("throttled_time", cpu_stat.get("throttled_usec", 0) * 1000),
    }
    host_mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if not mem_limit or mem_limit > host_mem:
        mem_limit = host_mem
    cpus = os.cpu_count() or 1
    now = times.utc(precise=True)
    running = c.running
    cpu_stats = {
        "cpu_usage": {"total_usage": cpu_total if running else 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "system_cpu_usage": _system_cpu_ns(),
        "online_cpus": cpus,
        "throttling_data": throttling if running else {},
    }
    empty_cpu = {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": cpus, "throttling_data": {}}
    return {
        "read": now,
        "preread": previous["read"] if previous else "0001-01-01T00:00:00Z",
        "id": c.id,
        "name": c.data["Name"],
        "pids_stats": {"current": pids if running else 0, **({"limit": pids_limit} if running and pids_limit else {})},
        "cpu_stats": cpu_stats,
        "precpu_stats": previous["cpu_stats"] if previous else empty_cpu,
        "memory_stats": {"usage": mem_usage if running else 0, "limit": mem_limit, "stats": mem_stats}
        if running
        else {},
        "blkio_stats": {},
        "num_procs": 0,
        "storage_stats": {},
        "networks": {},
    }
