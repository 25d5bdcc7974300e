"""A container's OCI config.json, from its record: process, user, mounts (volumes, binds, tmpfs, /etc files),
namespaces and confinement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..network.networks import HOST
from . import confinement, ocispec, users
from .config import command
from .record import Container
from .runtime import OCIRuntimeError


def build(c: Container, netns: str | None, etc_files: dict[str, Path]) -> dict[str, Any]:
    """The spec to run `c` in network namespace `netns` (HOST: the host's network); InvalidInput when its
    confinement cannot be honoured here."""
    config, host = c.data["Config"], c.data["HostConfig"]
    try:
        user = users.resolve(c.rootfs, config.get("User") or "")
    except ValueError as e:
        raise OCIRuntimeError(str(e)) from None
    mounts = [ocispec.bind(str(path), f"/etc/{name}", False) for name, path in etc_files.items()]
    for m in c.data["Mounts"]:
        if m["Type"] == "tmpfs":
            mounts.append(
                {
                    "destination": m["Destination"],
                    "type": "tmpfs",
                    "source": "tmpfs",
                    "options": ["nosuid", "nodev", "mode=1777"],
                }
            )
        else:
            mounts.append(ocispec.bind(m["Source"], m["Destination"], not m["RW"]))
    spec = ocispec.build(
        rootfs=c.rootfs,
        args=command(config),
        env=config.get("Env") or [],
        cwd=config.get("WorkingDir") or "/",
        user=user,
        tty=c.tty,
        hostname=config.get("Hostname") or c.id[:12],
        mounts=mounts,
        netns=None if netns == HOST else netns,
        host_network=netns == HOST,
        conf=confinement.of(host),
        readonly_rootfs=bool(host.get("ReadonlyRootfs")),
    )
    spec["linux"]["cgroupsPath"] = f"/machine/{c.id}"
    return spec
