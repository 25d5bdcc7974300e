"""Capabilities: Docker's default set, the ones this agent holds, and Docker's --cap-add/--cap-drop rules."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import InvalidInput

# Every capability Linux knows, by bit number (linux/capability.h).
NAMES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

# moby's oci/caps/defaults.go
DEFAULT = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)


def _status_mask(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    return 0


@functools.cache
def held() -> tuple[str, ...]:
    """The capabilities in this agent's bounding set: all a container can be given here (read once)."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    mask = _status_mask("CapBnd")
    return tuple(name for bit, name in enumerate(NAMES) if bit <= last and mask >> bit & 1)


def effective(name: str) -> bool:
    """Whether this agent has capability `name` in effect now."""
    return bool(_status_mask("CapEff") >> NAMES.index(name) & 1)


def normalize(names: Iterable[object], field: str) -> list[str]:
    """`net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` as `CAP_NET_ADMIN`; `ALL` stays; unknown names are refused."""
    result = []
    for name in names:
        if not isinstance(name, str):
            raise InvalidInput(f"invalid {field}: capabilities are strings, got {name!r}")
        upper = name.upper()
        cap = upper if upper in ("ALL", "CAP_ALL") or upper.startswith("CAP_") else f"CAP_{upper}"
        cap = "ALL" if cap == "CAP_ALL" else cap
        if cap != "ALL" and cap not in NAMES:
            raise InvalidInput(f'unknown capability: "{name}"')
        result.append(cap)
    return result


def tweak(add: list[str], drop: list[str], privileged: bool, available: Sequence[str]) -> list[str]:
    """The capability set, as moby's TweakCapabilities makes it from normalized --cap-add/--cap-drop lists.

    Privileged or `--cap-add ALL`: everything this agent holds (less what is dropped); `--cap-drop ALL`: only
    what is added; otherwise the default set, less what is dropped, plus what is added. An added capability
    the agent does not hold cannot be given, so it is refused rather than failing the start."""
    if privileged:
        return list(available)
    for cap in add:
        if cap != "ALL" and cap not in available:
            raise InvalidInput(f"cannot add capability {cap}: the engine does not hold it on this host")
    if "ALL" in add:
        return [c for c in available if c not in drop]
    if "ALL" in drop:
        return sorted(set(add))
    kept = [c for c in DEFAULT if c in available and c not in drop]
    return sorted(set(kept) | set(add))
