"""A container's confinement from its HostConfig, as Docker's defaults and options make it: capabilities, seccomp,
no-new-privileges, masked and read-only paths, devices and resource limits.

`--privileged` gives every capability the engine holds, every host device, and no seccomp filter nor masked
paths. AppArmor and SELinux are not applied by this engine: only the options that ask for none are accepted.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from . import caps, resources, seccomp

# moby's oci/defaults.go (which also masks each CPU's thermal_throttle: see masked_paths())
MASKED_PATHS = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

_TRUE, _FALSE = ("1", "t", "T", "TRUE", "true", "True"), ("0", "f", "F", "FALSE", "false", "False")
_NOT_DEVICES = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}  # what containerd skips in /dev


@dataclass
class Confinement:
    """What confines one container, in the OCI spec's terms."""

    privileged: bool
    caps: list[str]
    seccomp: dict[str, Any] | None  # linux.seccomp; None: unconfined
    no_new_privileges: bool
    masked_paths: list[str]
    readonly_paths: list[str]
    devices: list[dict[str, Any]]  # linux.devices beyond the defaults: the host's for a privileged container
    writable_cgroups: bool  # /sys/fs/cgroup mounted read-write
    limits: resources.Limits


def of(host: dict[str, Any], held: Sequence[str] | None = None, facts: resources.Facts | None = None) -> Confinement:
    """The confinement a HostConfig asks for, given the capabilities the engine holds and the host's facts (this
    host's when not given); InvalidInput saying why when part of it cannot be honoured."""
    privileged = host.get("Privileged") is True
    add = caps.normalize(_strings(host, "CapAdd"), "CapAdd")
    drop = caps.normalize(_strings(host, "CapDrop"), "CapDrop")
    cap_list = caps.tweak(add, drop, privileged, caps.held() if held is None else held)
    profile, no_new_privileges, writable_cgroups = _security_opts(_strings(host, "SecurityOpt"))
    return Confinement(
        privileged=privileged,
        caps=cap_list,
        seccomp=None if privileged or profile is None else seccomp.oci(profile, cap_list),
        no_new_privileges=no_new_privileges,
        masked_paths=[] if privileged else _paths(host, "MaskedPaths", masked_paths()),
        readonly_paths=[] if privileged else _paths(host, "ReadonlyPaths", READONLY_PATHS),
        devices=host_devices() if privileged else [],
        writable_cgroups=privileged if writable_cgroups is None else writable_cgroups,
        limits=resources.of(host, resources.facts() if facts is None else facts),
    )


@functools.cache
def _thermal_throttles() -> tuple[str, ...]:
    cpus = sorted(os.listdir("/sys/devices/system/cpu"))
    return tuple(p for p in (f"/sys/devices/system/cpu/{c}/thermal_throttle" for c in cpus) if os.path.exists(p))


def masked_paths() -> list[str]:
    """Docker's masked paths on this host."""
    return MASKED_PATHS + list(_thermal_throttles())


def _strings(host: dict[str, Any], name: str) -> list[str]:
    value = host.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"HostConfig.{name} must be a list of strings")
    return value


def _paths(host: dict[str, Any], name: str, default: list[str]) -> list[str]:
    """The client's list when it gives one (`--security-opt systempaths=unconfined` sends empty ones)."""
    if host.get(name) is None:
        return default
    paths = _strings(host, name)
    for path in paths:
        if not path.startswith("/"):
            raise InvalidInput(f"HostConfig.{name}: {path!r} is not an absolute path")
    return paths


def _security_opts(options: list[str]) -> tuple[dict[str, Any] | None, bool, bool | None]:
    """(the seccomp profile in Docker's format, None for unconfined; no-new-privileges; writable cgroups, None when
    not asked) from --security-opt values, parsed as moby's parseSecurityOpt does."""
    profile: dict[str, Any] | None = seccomp.DEFAULT
    no_new_privileges, writable_cgroups = False, None
    for opt in options:
        if opt == "no-new-privileges":
            no_new_privileges = True
            continue
        if opt == "disable":  # the old spelling of label=disable
            continue
        key, sep, value = opt.partition("=") if "=" in opt else opt.partition(":")
        if not sep:
            raise InvalidInput(f'invalid --security-opt 1: "{opt}"')
        if key == "seccomp":
            profile = None if value == "unconfined" else seccomp.DEFAULT if value == "builtin" else seccomp.parse(value)
        elif key == "no-new-privileges" and value in _TRUE + _FALSE:
            no_new_privileges = value in _TRUE
        elif key == "writable-cgroups" and value in _TRUE + _FALSE:
            writable_cgroups = value in _TRUE
        elif key == "apparmor":
            if value != "unconfined":
                raise InvalidInput(
                    f"--security-opt apparmor={value} cannot be applied: this engine applies no AppArmor profile "
                    "(only apparmor=unconfined is accepted)"
                )
        elif key == "label":
            if value != "disable":
                raise InvalidInput(
                    f"--security-opt label={value} cannot be applied: this engine applies no SELinux labels "
                    "(only label=disable is accepted)"
                )
        else:
            raise InvalidInput(f'invalid --security-opt 2: "{opt}"')
    return profile, no_new_privileges, writable_cgroups


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """The host's device nodes as OCI linux.devices (what a privileged container gets)."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if d not in _NOT_DEVICES]
        for name in files:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            kind = "c" if stat.S_ISCHR(info.st_mode) else "b" if stat.S_ISBLK(info.st_mode) else ""
            if not kind or name == "console":
                continue
            found.append(
                {
                    "path": path,
                    "type": kind,
                    "major": os.major(info.st_rdev),
                    "minor": os.minor(info.st_rdev),
                    "fileMode": stat.S_IMODE(info.st_mode),
                    "uid": info.st_uid,
                    "gid": info.st_gid,
                }
            )
    return found
