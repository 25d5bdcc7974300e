"""Resource limits from a container's HostConfig, as Docker applies them: the OCI spec's `linux.resources`
(memory, CPU and pids cgroups, which runc and crun write on cgroup v1 and v2 alike), rlimits, the size of
/dev/shm and the OOM score. Each value is checked against what this host can honour; one it cannot honour is
refused with the reason, never accepted and ignored."""

from __future__ import annotations

import functools
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from . import caps, cgroups

MIN_MEMORY = 6 * 1024 * 1024  # Docker's minimum for --memory and --memory-reservation
CPU_PERIOD = 100_000  # µs: the CFS period a --cpus quota is a share of
MAX_SHARES = 262_144
SHM_SIZE = 64 * 1024 * 1024  # Docker's default /dev/shm
NOFILE = 1_048_576  # the open-files limit containers get by default (containerd's)
UNLIMITED = 2**64 - 1  # RLIM_INFINITY in an OCI rlimit

ULIMITS = {
    "as": resource.RLIMIT_AS,
    "core": resource.RLIMIT_CORE,
    "cpu": resource.RLIMIT_CPU,
    "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE,
    "locks": 10,  # RLIMIT_LOCKS, which Python's resource module does not name
    "memlock": resource.RLIMIT_MEMLOCK,
    "msgqueue": resource.RLIMIT_MSGQUEUE,
    "nice": resource.RLIMIT_NICE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "rss": resource.RLIMIT_RSS,
    "rtprio": resource.RLIMIT_RTPRIO,
    "rttime": resource.RLIMIT_RTTIME,
    "sigpending": resource.RLIMIT_SIGPENDING,
    "stack": resource.RLIMIT_STACK,
}

# HostConfig fields this engine does not apply, with the docker option that sets each: refused when set.
UNSUPPORTED = {
    "BlkioWeight": "--blkio-weight",
    "BlkioWeightDevice": "--blkio-weight-device",
    "BlkioDeviceReadBps": "--device-read-bps",
    "BlkioDeviceWriteBps": "--device-write-bps",
    "BlkioDeviceReadIOps": "--device-read-iops",
    "BlkioDeviceWriteIOps": "--device-write-iops",
    "CpuRealtimePeriod": "--cpu-rt-period",
    "CpuRealtimeRuntime": "--cpu-rt-runtime",
    "CpuCount": "--cpu-count",
    "CpuPercent": "--cpu-percent",
    "IOMaximumIOps": "--io-maxiops",
    "IOMaximumBandwidth": "--io-maxbandwidth",
    "KernelMemory": "--kernel-memory",
    "KernelMemoryTCP": "kernel TCP memory limits",
    "Devices": "--device",
    "DeviceCgroupRules": "--device-cgroup-rule",
    "DeviceRequests": "--gpus",
    "CgroupParent": "--cgroup-parent",
}


@dataclass(frozen=True)
class Facts:
    """What this host lets the engine give a container."""

    cgroups: cgroups.Host
    hard: dict[str, int]  # the engine's own hard rlimits, by ulimit name (UNLIMITED when none)
    can_raise: bool  # CAP_SYS_RESOURCE: rlimits above those and a lower OOM score can be set
    nr_open: int  # the kernel's ceiling for open files
    oom_score_adj: int  # the engine's own


@functools.cache
def facts() -> Facts:
    """This host's facts (read once: they hold for as long as the agent runs)."""
    hard = {}
    for name, kind in ULIMITS.items():
        value = resource.getrlimit(kind)[1]
        hard[name] = UNLIMITED if value == resource.RLIM_INFINITY else value
    return Facts(
        cgroups=cgroups.host(),
        hard=hard,
        can_raise=caps.effective("CAP_SYS_RESOURCE"),
        nr_open=int(Path("/proc/sys/fs/nr_open").read_text()),
        oom_score_adj=int(Path("/proc/self/oom_score_adj").read_text()),
    )


@dataclass
class Limits:
    """A container's limits, in the OCI spec's terms."""

    resources: dict[str, Any]  # linux.resources (without devices)
    rlimits: list[dict[str, Any]]  # process.rlimits
    shm_size: int  # bytes of /dev/shm
    oom_score_adj: int  # process.oomScoreAdj
    warnings: list[str] = field(default_factory=list)  # honoured, but worth telling the client (as Docker does)


def of(host: dict[str, Any], facts: Facts) -> Limits:
    """The limits a HostConfig asks for; InvalidInput saying why when one cannot be honoured here."""
    for name, option in UNSUPPORTED.items():
        if host.get(name):
            raise InvalidInput(f"{option} (HostConfig.{name}) is not supported by this engine")
    warnings: list[str] = []
    resources: dict[str, Any] = {}
    memory = _memory(host, facts.cgroups, warnings)
    if memory:
        resources["memory"] = memory
    cpu = _cpu(host, facts.cgroups)
    if cpu:
        resources["cpu"] = cpu
    pids = _integer(host, "PidsLimit")
    if pids > 0:  # 0 and -1: unlimited
        _need(facts.cgroups, "pids", "--pids-limit")
        resources["pids"] = {"limit": pids}
    shm = _integer(host, "ShmSize")
    if shm < 0:
        raise InvalidInput("SHM size can not be less than 0")
    return Limits(resources, _rlimits(host, facts), shm or SHM_SIZE, _oom_score_adj(host, facts), warnings)


def adapt(host: dict[str, Any], facts: cgroups.Host) -> None:
    """Record in HostConfig `host` the swap a memory limit gets by default (as much again), as dockerd records it."""
    memory = host.get("Memory")
    if isinstance(memory, int) and memory > 0 and not host.get("MemorySwap") and facts.swap:
        host["MemorySwap"] = 2 * memory


def _integer(host: dict[str, Any], name: str) -> int:
    value = host.get(name)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"HostConfig.{name} must be an integer, not {value!r}")
    return value


def _need(host: cgroups.Host, controller: str, option: str) -> None:
    if controller not in host.controllers:
        raise InvalidInput(f"{option} cannot be applied: this host's cgroups have no {controller} controller")


def _memory(host: dict[str, Any], facts: cgroups.Host, warnings: list[str]) -> dict[str, Any]:
    memory, swap = _integer(host, "Memory"), _integer(host, "MemorySwap")
    reservation, swappiness = _integer(host, "MemoryReservation"), _integer(host, "MemorySwappiness")
    result: dict[str, Any] = {}
    if memory:
        if memory < MIN_MEMORY:
            raise InvalidInput("Minimum memory limit allowed is 6MB")
        _need(facts, "memory", "--memory")
        result["limit"] = memory
    if swap > 0:
        if not memory:
            raise InvalidInput("You should always set the Memory limit when using Memoryswap limit, see usage")
        if swap < memory:
            raise InvalidInput("Minimum memoryswap limit should be larger than memory limit, see usage")
        if not facts.swap:
            raise InvalidInput("--memory-swap cannot be applied: this host's kernel does not account swap")
        result["swap"] = swap
    elif swap < -1:
        raise InvalidInput(f"invalid --memory-swap {swap}: give a size, or -1 for unlimited swap")
    elif memory and swap == -1:
        result["swap"] = -1
    elif memory and facts.swap:
        result["swap"] = 2 * memory  # Docker's default: as much swap as memory
    if reservation:
        if reservation < MIN_MEMORY:
            raise InvalidInput("Minimum memory reservation allowed is 6MB")
        if memory and memory < reservation:
            raise InvalidInput("Minimum memory limit can not be less than memory reservation limit, see usage")
        _need(facts, "memory", "--memory-reservation")
        result["reservation"] = reservation
    if host.get("MemorySwappiness") is not None and swappiness != -1:
        if not 0 <= swappiness <= 100:
            raise InvalidInput(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
        if facts.v2:
            raise InvalidInput("--memory-swappiness cannot be applied: cgroup v2 has no per-container swappiness")
        _need(facts, "memory", "--memory-swappiness")
        result["swappiness"] = swappiness
    if host.get("OomKillDisable"):
        if facts.v2:
            raise InvalidInput("--oom-kill-disable cannot be applied: cgroup v2 has no way to turn off the OOM killer")
        _need(facts, "memory", "--oom-kill-disable")
        if not memory:
            warnings.append(
                "OOM killer is disabled for the container, but no memory limit is set, "
                "this can result in the system running out of resources."
            )
        result["disableOOMKiller"] = True
    return result


def _cpu(host: dict[str, Any], facts: cgroups.Host) -> dict[str, Any]:
    nano, period, quota = _integer(host, "NanoCpus"), _integer(host, "CpuPeriod"), _integer(host, "CpuQuota")
    shares, count = _integer(host, "CpuShares"), len(facts.cpus)
    if nano:
        if period:
            raise InvalidInput("Conflicting options: Nano CPUs and CPU Period cannot both be set")
        if quota:
            raise InvalidInput("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
        if not 10_000_000 <= nano <= count * 1_000_000_000:
            raise InvalidInput(f"Range of CPUs is from 0.01 to {count}.00, as there are only {count} CPUs available")
        period, quota = CPU_PERIOD, nano * CPU_PERIOD // 1_000_000_000
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidInput("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if quota and quota != -1 and quota < 1000:
        raise InvalidInput("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if shares and not 2 <= shares <= MAX_SHARES:
        raise InvalidInput(f"invalid --cpu-shares {shares}: the range is 2 to {MAX_SHARES}")
    result: dict[str, Any] = {}
    if shares:
        _need(facts, "cpu", "--cpu-shares")
        result["shares"] = shares
    if quota > 0:
        _need(facts, "cpu", "--cpus")
        result["quota"] = quota
    if period:
        _need(facts, "cpu", "--cpu-period")
        result["period"] = period
    for key, kind, available in (("cpus", "CPUs", facts.cpus), ("mems", "memory nodes", facts.mems)):
        wanted = host.get(f"Cpuset{key.capitalize()}") or ""
        if not wanted:
            continue
        try:
            listed = cgroups.parse_list(wanted) if isinstance(wanted, str) else None
        except ValueError:
            listed = None
        if listed is None:
            raise InvalidInput(f"Invalid value {wanted} for cpuset {key}")
        if not listed <= available:
            raise InvalidInput(
                f"Requested {kind} are not available - requested {wanted}, available: {format_list(available)}"
            )
        _need(facts, "cpuset", f"--cpuset-{key}")
        result[key] = wanted
    return result


def format_list(numbers: frozenset[int] | set[int]) -> str:
    """`0-3,8` for {0, 1, 2, 3, 8}."""
    ranges: list[list[int]] = []
    for n in sorted(numbers):
        if ranges and ranges[-1][1] == n - 1:
            ranges[-1][1] = n
        else:
            ranges.append([n, n])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _rlimits(host: dict[str, Any], facts: Facts) -> list[dict[str, Any]]:
    limits = {"nofile": (min(NOFILE, facts.hard["nofile"], facts.nr_open),) * 2}
    ulimits = host.get("Ulimits") or []
    if not isinstance(ulimits, list) or not all(isinstance(u, dict) for u in ulimits):
        raise InvalidInput("HostConfig.Ulimits must be a list of {Name, Soft, Hard} objects")
    for u in ulimits:
        name = u.get("Name")
        if name not in ULIMITS:
            raise InvalidInput(f"invalid ulimit type: {name}")
        soft, hard = (_integer(u, "Soft"), _integer(u, "Hard"))
        soft, hard = (UNLIMITED if v == -1 else v for v in (soft, hard))
        if soft < 0 or hard < 0:
            raise InvalidInput(f"invalid ulimit {name}: limits are sizes, or -1 for unlimited")
        if soft > hard:
            raise InvalidInput(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
        ceiling = facts.hard[name]
        if hard > ceiling and not facts.can_raise:
            raise InvalidInput(
                f"--ulimit {name}={soft}:{hard} cannot be applied: this host's hard limit is {ceiling} "
                "and the engine lacks CAP_SYS_RESOURCE to raise it"
            )
        if name == "nofile" and hard > facts.nr_open:
            raise InvalidInput(f"--ulimit nofile={soft}:{hard} cannot be applied: the kernel allows {facts.nr_open}")
        limits[name] = (soft, hard)
    return [{"type": f"RLIMIT_{name.upper()}", "soft": s, "hard": h} for name, (s, h) in limits.items()]


def _oom_score_adj(host: dict[str, Any], facts: Facts) -> int:
    score = _integer(host, "OomScoreAdj")
    if not -1000 <= score <= 1000:
        raise InvalidInput(f"Invalid value {score}, range for oom score adj is [-1000, 1000]")
    if score < facts.oom_score_adj and not facts.can_raise:
        raise InvalidInput(
            f"--oom-score-adj {score} cannot be applied: it is below the engine's own ({facts.oom_score_adj}) "
            "and the engine lacks CAP_SYS_RESOURCE"
        )
    return score
