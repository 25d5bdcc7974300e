"""A container's /etc/hosts: localhost, its own name, linked containers and --add-host entries.

Names on user networks come from the embedded DNS server, not from this file. The file is rewritten in place:
the container has it bind-mounted."""

from __future__ import annotations

from collections.abc import Sequence

from . import links
from .member import Member


def linked(c: Member, containers: Sequence[Member]) -> list[tuple[str, list[str]]]:
    """(address, names) of the running containers `c` is linked to (--link NAME[:ALIAS]): as dockerd, the alias,
    the container's hostname and its name when the alias is not that."""
    entries = []
    for link, other in links.children(c, containers):
        address = (other.data.get("NetworkSettings") or {}).get("IPAddress")
        if other.running and address:
            alias = link.rsplit("/", 1)[-1]
            names = [alias, other.data["Config"].get("Hostname") or other.id[:12]]
            entries.append((address, names + ([other.name] if alias != other.name else [])))
    return entries


def content(c: Member, containers: Sequence[Member]) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    own = (c.data.get("NetworkSettings") or {}).get("IPAddress")
    if own:
        lines.append(f"{own}\t{c.data['Config'].get('Hostname') or c.id[:12]}")
    lines += [f"{address}\t{' '.join(names)}" for address, names in linked(c, containers)]
    lines += [
        f"{h.split(':', 1)[1]}\t{h.split(':', 1)[0]}" for h in c.data["HostConfig"].get("ExtraHosts") or [] if ":" in h
    ]
    return "\n".join(lines) + "\n"


def write(c: Member, containers: Sequence[Member]) -> None:
    (c.path / "hosts").write_text(content(c, containers))


def refresh(around: Member, containers: Sequence[Member]) -> None:
    """Rewrite /etc/hosts of `around` and of every running container that shares a network with it."""
    shared = set(around.networks)
    for c in containers:
        if c is around or (c.running and shared & set(c.networks)):
            write(c, containers)


def refresh_running(containers: Sequence[Member]) -> None:
    """Rewrite /etc/hosts of every running container (after one left a network or stopped)."""
    for c in containers:
        if c.running:
            write(c, containers)
