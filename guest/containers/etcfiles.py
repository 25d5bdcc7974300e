"""The files a container gets at /etc: hosts, hostname and resolv.conf, kept in its folder and bind-mounted."""

from __future__ import annotations

from pathlib import Path

from ..network import hosts
from ..network.networks import Networks
from ..network.resolv import container_resolv_conf
from .record import Container

NAMES = ("hosts", "hostname", "resolv.conf")


def write(c: Container, containers: list[Container], networks: Networks) -> dict[str, Path]:
    """Write the three files of `c` (its networks must be set up); their paths by name."""
    hosts.write(c, containers)
    (c.path / "hostname").write_text((c.data["Config"].get("Hostname") or c.id[:12]) + "\n")
    servers = c.data["HostConfig"].get("Dns") or []
    (c.path / "resolv.conf").write_text(container_resolv_conf(servers, networks.nameserver(c)))
    return {name: c.path / name for name in NAMES}
