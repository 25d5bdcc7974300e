"""Container resource usage from the container's cgroup (v1 or v2), in the Engine API's stats shape."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import times
from .record import Container
from .runtime import cgroup_v2

_CGROUP = Path("/sys/fs/cgroup")


def _read_int(path: Path) -> int:
    try:
        value = path.read_text().split()[0]
        return 0 if value == "max" else int(value)
    except (OSError, IndexError, ValueError):
        return 0


def _kv(path: Path) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines() if " " in line)}
    except (OSError, ValueError):
        return {}


def _system_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def sample(c: Container, previous: dict[str, Any] | None) -> dict[str, Any]:
    path = f"machine/{c.id}"
    if cgroup_v2():
        base = _CGROUP / path
        cpu_total = _kv(base / "cpu.stat").get("usage_usec", 0) * 1000
        mem_usage, mem_limit = _read_int(base / "memory.current"), _read_int(base / "memory.max")
        mem_stats = _kv(base / "memory.stat")
        pids = _read_int(base / "pids.current")
    else:
        cpu_total = _read_int(_CGROUP / "cpuacct" / path / "cpuacct.usage")
        mem_usage = _read_int(_CGROUP / "memory" / path / "memory.usage_in_bytes")
        mem_limit = _read_int(_CGROUP / "memory" / path / "memory.limit_in_bytes")
        mem_stats = _kv(_CGROUP / "memory" / path / "memory.stat")
        pids = _read_int(_CGROUP / "pids" / path / "pids.current")
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
        "throttling_data": {},
    }
    empty_cpu = {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": cpus, "throttling_data": {}}
    return {
        "read": now,
        "preread": previous["read"] if previous else "0001-01-01T00:00:00Z",
        "id": c.id,
        "name": c.data["Name"],
        "pids_stats": {"current": pids if running else 0},
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
