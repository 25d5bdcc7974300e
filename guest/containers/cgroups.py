"""This host's cgroups: the version, what its controllers can limit, and each container's cgroup files.

Containers live at `machine/<id>` under the hierarchy root (cgroup v2) or under each controller's (v1).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def v2() -> bool:
    """A pure cgroup v2 host (the guests); False on v1 and hybrid layouts."""
    return (ROOT / "cgroup.controllers").exists()


def parse_list(text: str) -> set[int]:
    """A cpu or memory-node list such as `0-3,8`; ValueError when it is not one."""
    numbers: set[int] = set()
    for part in text.strip().split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"invalid list {text!r}")
        numbers.update(range(int(low), int(high if dash else low) + 1))
    return numbers


def _read_list(*paths: Path) -> frozenset[int]:
    for path in paths:
        try:
            return frozenset(parse_list(path.read_text()))
        except (OSError, ValueError):
            continue
    return frozenset({0})


@dataclass(frozen=True)
class Host:
    """What this host's cgroups can do for a container."""

    v2: bool
    controllers: frozenset[str]  # memory, cpu, cpuset, pids... usable here
    swap: bool  # swap is accounted, so a memory+swap limit can be set
    cpus: frozenset[int]  # the CPUs containers may use
    mems: frozenset[int]  # the memory nodes containers may use


@functools.cache
def host() -> Host:
    """This host's cgroup facts (read once: they hold for as long as the agent runs)."""
    if v2():
        controllers = frozenset((ROOT / "cgroup.controllers").read_text().split())
        swap = any((child / "memory.swap.max").exists() for child in ROOT.iterdir() if child.is_dir())
        cpus = _read_list(ROOT / "cpuset.cpus.effective", Path("/sys/devices/system/cpu/online"))
        mems = _read_list(ROOT / "cpuset.mems.effective", Path("/sys/devices/system/node/online"))
    else:
        with open("/proc/cgroups") as f:  # name, hierarchy (0: not a v1 one), count, enabled
            rows = [line.split() for line in f if not line.startswith("#")]
        controllers = frozenset(r[0] for r in rows if len(r) == 4 and r[1] != "0" and r[3] == "1")
        swap = (ROOT / "memory" / "memory.memsw.limit_in_bytes").exists()
        cpus = _read_list(ROOT / "cpuset" / "cpuset.cpus", Path("/sys/devices/system/cpu/online"))
        mems = _read_list(ROOT / "cpuset" / "cpuset.mems", Path("/sys/devices/system/node/online"))
    return Host(v2=v2(), controllers=controllers, swap=swap, cpus=cpus, mems=mems)


def path(cid: str, controller: str) -> Path:
    """The directory of a container's cgroup for `controller` (the same for every controller on v2)."""
    return ROOT / "machine" / cid if v2() else ROOT / controller / "machine" / cid


def read_int(file: Path) -> int:
    """A cgroup file's first number (`max` and unreadable files are 0)."""
    try:
        value = file.read_text().split()[0]
        return 0 if value == "max" else int(value)
    except (OSError, IndexError, ValueError):
        return 0


def read_kv(file: Path) -> dict[str, int]:
    """A cgroup file of `key value` lines (memory.stat, cpu.stat, memory.events)."""
    try:
        return {k: int(v) for k, v in (line.split() for line in file.read_text().splitlines() if " " in line)}
    except (OSError, ValueError):
        return {}


def oom_kills(cid: str) -> int:
    """How many processes the OOM killer has killed in the container's cgroup (while the cgroup exists)."""
    memory = path(cid, "memory")
    return read_kv(memory / ("memory.events" if v2() else "memory.oom_control")).get("oom_kill", 0)


def lift_pids(cid: str) -> None:
    """Lift a running container's pids limit."""
    (path(cid, "pids") / "pids.max").write_text("max")
