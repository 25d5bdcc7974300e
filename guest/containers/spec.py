"""A container's OCI config.json, from its record: process, user, mounts (volumes, binds, tmpfs, /etc files),
namespaces and confinement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..network.networks import HOST
from . import confinement, ocispec, propagation, subpath, users
from .config import command, merge_env
from .record import Container
from .runtime import OCIRuntimeError


def build(c: Container, netns: str | None, etc_files: dict[str, Path], linked: list[str]) -> dict[str, Any]:
    """The spec to run `c` in network namespace `netns` (HOST: the host's network), with the variables of its
    links (`linked`, which its own Env overrides); InvalidInput when its confinement cannot be honoured here."""
    config, host = c.data["Config"], c.data["HostConfig"]
    try:
        user = users.resolve(c.rootfs, config.get("User") or "", host.get("GroupAdd"))
        mounts, root_propagation = _mounts(c, etc_files)
    except ValueError as e:  # the start fails as the runtime's refusals do (recorded, --rm honoured)
        raise OCIRuntimeError(str(e)) from None
    spec = ocispec.build(
        rootfs=c.rootfs,
        args=command(config),
        env=merge_env(linked, config.get("Env") or []),
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
    if root_propagation:
        spec["linux"]["rootfsPropagation"] = root_propagation
    return spec


def _mounts(c: Container, etc_files: dict[str, Path]) -> tuple[list[dict[str, Any]], str]:
    """The container's own mounts (/etc files, binds, volumes, tmpfs) and the root propagation its binds need;
    ValueError when the host cannot give one as asked."""
    mounts = [ocispec.bind(str(path), f"/etc/{name}", False) for name, path in etc_files.items()]
    root_propagation = ""
    for number, m in enumerate(c.data["Mounts"]):
        if m["Type"] == "bind" and m.get("Propagation", "rprivate") != "rprivate":
            root_propagation = propagation.required(m["Source"], m["Propagation"], root_propagation)
            mounts.append(ocispec.bind(m["Source"], m["Destination"], not m["RW"], m["Propagation"]))
        elif m["Type"] == "volume" and m.get("Subpath"):
            pinned = subpath.pin(m["Source"], m["Subpath"], c.path / "subpaths" / str(number))
            mounts.append(ocispec.bind(str(pinned), m["Destination"], not m["RW"]))
        elif m["Type"] == "tmpfs":
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
    return mounts, root_propagation
