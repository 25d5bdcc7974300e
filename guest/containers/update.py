"""`docker update`: a container's resource limits and restart policy changed, as dockerd's ContainerUpdate does it.

The new values are merged into the HostConfig by dockerd's rules (zero leaves a value as it is), checked as at
create against what this host can honour, recorded (inspect shows them, the next start applies them) and, while the
container runs, written to its cgroups by the OCI runtime's `update`.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

from ..errors import Conflict, InvalidInput, SystemFailure
from . import cgroups, confinement, resources
from .record import Container
from .runtime import OCIRuntimeError, Runtime
from .store import ContainerStore

# what an update sets, as dockerd's UpdateContainer: zero (or "") leaves the value as it is
UPDATED = (
    *("CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems"),
    *("Memory", "MemorySwap", "MemoryReservation", "PidsLimit"),
)
# resource fields an update cannot change (dockerd ignores them): refused when set, never accepted and ignored
FIXED = (
    *("Ulimits", "OomKillDisable", "MemorySwappiness", "Init", "CpuCount", "CpuPercent"),
    *("IOMaximumIOps", "IOMaximumBandwidth"),
)
# what the runtime's update writes (the LinuxResources fields dockerd sends to containerd)
LIVE = {"memory": ("limit", "reservation", "swap"), "cpu": ("shares", "quota", "period", "cpus", "mems")}


def update(store: ContainerStore, c: Container, request: dict[str, Any]) -> list[str]:
    """Change `c`'s limits and restart policy as `request` (an UpdateConfig) asks: at once while it runs (paused
    too), at its next start otherwise. What to warn the client about."""
    facts = resources.facts()
    with c.lock:
        host, warnings = merged(c, request, facts)
        if c.running:
            apply(store.runtime, c, live(host, request, facts))
            if isinstance(request.get("PidsLimit"), int) and request["PidsLimit"] <= 0:
                _lift_pids(c, facts)
        c.data["HostConfig"] = host
        store.persist(c)
    store.emit(c, "update")
    return warnings


def merged(c: Container, request: dict[str, Any], facts: resources.Facts) -> tuple[dict[str, Any], list[str]]:
    """(the HostConfig `request` makes of `c`'s, what to warn the client about); InvalidInput or Conflict saying
    why when the change cannot be made."""
    for name, option in resources.UNSUPPORTED.items():
        if request.get(name):
            raise InvalidInput(f"{option} (HostConfig.{name}) is not supported by this engine")
    for name in FIXED:
        if request.get(name) not in (None, 0, -1, "", [], False):
            raise InvalidInput(f"{name} cannot be updated: it is set when the container is created")
    alone = {k: request[k] for k in UPDATED if request.get(k) and (k != "MemorySwap" or request.get("Memory"))}
    resources.of(alone, facts)  # the values themselves first, as dockerd checks them before merging
    old = dict(c.data["HostConfig"])
    resources.adapt(old, facts.cgroups)  # a record from before MemorySwap was recorded
    host = dict(old)
    _cpus_conflict(request, old)
    for name in UPDATED:
        if request.get(name):
            host[name] = request[name]
    pids = request.get("PidsLimit")
    if isinstance(pids, int) and pids <= 0:
        host["PidsLimit"] = 0  # 0 and -1 both mean unlimited, recorded as 0 (as dockerd)
    memory, swap = request.get("Memory") or 0, request.get("MemorySwap") or 0
    if memory and not swap and facts.cgroups.swap and memory > (old.get("MemorySwap") or 0):
        raise Conflict(
            f"Cannot update container {c.id}: Memory limit should be smaller than already set memoryswap limit, "
            "update the memoryswap at the same time"
        )
    policy = request.get("RestartPolicy") or {}
    if policy.get("Name"):
        host["RestartPolicy"] = _restart_policy(c, policy)
    warnings = confinement.of(host, facts=facts).limits.warnings  # refuses what cannot be honoured here
    return host, warnings


def _cpus_conflict(request: dict[str, Any], old: dict[str, Any]) -> None:
    """NanoCpus sets the period and quota: once one way is set, the other cannot be updated (dockerd's rule)."""
    pairs = (
        ("NanoCpus", "CpuPeriod", "Nano CPUs", "CPU Period"),
        ("NanoCpus", "CpuQuota", "Nano CPUs", "CPU Quota"),
        ("CpuPeriod", "NanoCpus", "CPU Period", "NanoCPUs"),
        ("CpuQuota", "NanoCpus", "CPU Quota", "NanoCPUs"),
    )
    for new, set_, new_words, set_words in pairs:
        if _positive(request.get(new)) and _positive(old.get(set_)):
            raise Conflict(f"Conflicting options: {new_words} cannot be updated as {set_words} has already been set")


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _restart_policy(c: Container, policy: dict[str, Any]) -> dict[str, Any]:
    name, count = policy["Name"], policy.get("MaximumRetryCount") or 0
    if not isinstance(count, int) or isinstance(count, bool):
        raise InvalidInput("RestartPolicy.MaximumRetryCount must be an integer")
    if name != "on-failure" and count:
        negative = " and cannot be negative" if count < 0 else ""
        raise InvalidInput(f"invalid restart policy: maximum retry count can only be used with 'on-failure'{negative}")
    if count < 0:
        raise InvalidInput("invalid restart policy: maximum retry count cannot be negative")
    if c.data["HostConfig"].get("AutoRemove") and name != "no":
        raise Conflict(
            f"Cannot update container {c.id}: Restart policy cannot be updated because AutoRemove is enabled "
            "for the container"
        )
    return {"Name": name, "MaximumRetryCount": count}


def live(host: dict[str, Any], request: dict[str, Any], facts: resources.Facts) -> dict[str, Any]:
    """The OCI LinuxResources the runtime's `update` writes for HostConfig `host`; a CPU quota of -1 in `request`
    lifts the quota set before (a lifted pids limit is written by lift_pids(): crun cannot)."""
    limits = resources.of(host, facts).resources
    written: dict[str, Any] = {}
    for kind, keys in LIVE.items():
        values = {k: v for k, v in (limits.get(kind) or {}).items() if k in keys}
        if values:
            written[kind] = values
    if request.get("CpuQuota") == -1 and "quota" not in written.get("cpu", {}):
        written.setdefault("cpu", {})["quota"] = -1
    if "pids" in limits:
        written["pids"] = limits["pids"]
    return written


def _lift_pids(c: Container, facts: resources.Facts) -> None:
    if "pids" not in facts.cgroups.controllers:
        return
    try:
        cgroups.lift_pids(c.id)
    except OSError as e:
        raise SystemFailure(f"Cannot update container {c.id}: lifting its pids limit: {e}") from None


def apply(runtime: Runtime, c: Container, written: dict[str, Any]) -> None:
    """Write `written` (OCI LinuxResources) to the running container's cgroups through the runtime."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=c.bundle) as f:
        json.dump(written, f)
        f.flush()
        try:
            runtime.run("update", "--resources", f.name, c.id)
        except OCIRuntimeError as e:
            text = str(e).splitlines()[-1] if str(e) else ""
            if "usage" in text or "busy" in text.lower():
                raise InvalidInput(
                    f"Cannot update container {c.id}: the memory limit is below what the container uses now: {text}"
                ) from None
            raise SystemFailure(f"Cannot update container {c.id}: {text}") from None
