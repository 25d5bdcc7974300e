"""The OCI runtime config.json of a container: Docker's default mounts (moby's oci/defaults.go) and namespaces,
with the confinement and limits its HostConfig asks for (confinement.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .confinement import Confinement

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _mounts(conf: Confinement) -> list[dict[str, Any]]:
    sys_ro = [] if conf.privileged else ["ro"]
    cgroup_ro = [] if conf.writable_cgroups else ["ro"]
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
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", *sys_ro]},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": [*cgroup_ro, "nosuid", "noexec", "nodev"],
        },
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={conf.limits.shm_size}"],
        },
    ]


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
    conf: Confinement,
    host_network: bool = False,
    readonly_rootfs: bool = False,
) -> dict[str, Any]:
    """config.json for runc/crun."""
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
            "capabilities": {k: conf.caps for k in ("bounding", "effective", "permitted")},
            "rlimits": conf.limits.rlimits,
            "noNewPrivileges": conf.no_new_privileges,
            "oomScoreAdj": conf.limits.oom_score_adj,
        },
        "root": {"path": str(rootfs), "readonly": readonly_rootfs},
        "hostname": hostname,
        "mounts": _mounts(conf) + mounts,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": conf.masked_paths,
            "readonlyPaths": conf.readonly_paths,
            "devices": conf.devices,
            "resources": {**conf.limits.resources, "devices": _device_rules(conf.privileged)},
        },
    }
    if conf.seccomp is not None:
        spec["linux"]["seccomp"] = conf.seccomp
    return spec


def _device_rules(privileged: bool) -> list[dict[str, Any]]:
    """The device cgroup rules: every device for a privileged container, else Docker's default allowances
    (null, zero, full, random, urandom, tty, console, ptmx, pts, tun)."""
    if privileged:
        return [{"allow": True, "access": "rwm"}]
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
    return [{"allow": False, "access": "rwm"}] + [
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
