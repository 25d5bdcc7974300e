"""The OCI runtime config.json of a container, with Docker's default confinement.

Defaults follow moby's oci/defaults.go: the same capability set, masked and read-only paths, and
mounts; rlimits are kept at or below this host's hard limits (the agent may lack CAP_SYS_RESOURCE).
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFAULT_CAPS = [
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
]

MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]

READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _mounts() -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
        },
    ]


def _rlimits() -> list[dict[str, Any]]:
    limits = []
    for name, kind, want in (("RLIMIT_NOFILE", resource.RLIMIT_NOFILE, 1048576),):
        _, hard = resource.getrlimit(kind)
        value = want if hard == resource.RLIM_INFINITY else min(want, hard)
        limits.append({"type": name, "hard": value, "soft": value})
    return limits


def build(
    *,
    rootfs: Path,
    args: list[str],
    env: list[str],
    cwd: str,
    user: tuple[int, int, list[int]],
    tty: bool,
    hostname: str,
    mounts: list[dict[str, Any]],
    netns: str | None,
    host_network: bool = False,
    privileged: bool = False,
    cap_add: list[str] | None = None,
    cap_drop: list[str] | None = None,
    readonly_rootfs: bool = False,
) -> dict[str, Any]:
    """config.json for runc/crun."""
    caps = set(DEFAULT_CAPS)
    for cap in cap_add or []:
        caps.add(cap if cap.startswith("CAP_") else f"CAP_{cap.upper()}")
    for cap in cap_drop or []:
        cap = cap if cap.startswith("CAP_") else f"CAP_{cap.upper()}"
        caps = set() if cap == "CAP_ALL" else caps - {cap}
    cap_list = sorted(caps)
    if not any(e.startswith("PATH=") for e in env):
        env = [DEFAULT_PATH, *env]
    namespaces = [{"type": t} for t in ("pid", "mount", "ipc", "uts")]
    if not host_network:
        namespaces.append({"type": "network", "path": netns} if netns else {"type": "network"})
    uid, gid, extra = user
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": tty,
            "user": {"uid": uid, "gid": gid, "additionalGids": extra},
            "args": args,
            "env": env,
            "cwd": cwd or "/",
            "capabilities": {k: cap_list for k in ("bounding", "effective", "permitted")},
            "rlimits": _rlimits(),
            "noNewPrivileges": False,
            "oomScoreAdj": 0,
        },
        "root": {"path": str(rootfs), "readonly": readonly_rootfs},
        "hostname": hostname,
        "mounts": _mounts() + mounts,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": [] if privileged else MASKED_PATHS,
            "readonlyPaths": [] if privileged else READONLY_PATHS,
            "resources": {"devices": [{"allow": False, "access": "rwm"}, *_default_devices()]},
        },
    }
    return spec


def _default_devices() -> list[dict[str, Any]]:
    """The device cgroup allowances of Docker's default profile (null, zero, full, random, urandom, tty, pts)."""
    allow = [
        ("c", 1, 3),
        ("c", 1, 5),
        ("c", 1, 7),
        ("c", 1, 8),
        ("c", 1, 9),
        ("c", 5, 0),
        ("c", 5, 1),
        ("c", 5, 2),
        ("c", 136, -1),
        ("c", 10, 200),
    ]
    return [
        {"allow": True, "type": t, "major": ma, **({} if mi < 0 else {"minor": mi}), "access": "rwm"}
        for t, ma, mi in allow
    ]


def bind(source: str, destination: str, readonly: bool) -> dict[str, Any]:
    return {
        "destination": destination,
        "type": "bind",
        "source": source,
        "options": ["rbind", "ro" if readonly else "rw", "rprivate"],
    }
