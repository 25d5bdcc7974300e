"""Legacy links (--link NAME[:ALIAS]) on the default bridge, as dockerd's daemon/links: the linked ("child")
containers a container names, the environment variables it gets for each (ALIAS_PORT, ALIAS_PORT_5432_TCP_ADDR,
ALIAS_NAME, ALIAS_ENV_X ...) and the link names (`/parent/alias`) that `docker rm --link` takes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import Conflict, InvalidInput
from .member import Member
from .store import DEFAULT


def parse(link: str) -> tuple[str, str]:
    """(child name, alias) of `NAME`, `NAME:ALIAS` or the stored `/NAME:/PARENT/ALIAS`."""
    if not link:
        raise InvalidInput("empty string specified for links")
    parts = link.split(":")
    if len(parts) > 2:
        raise InvalidInput(f"bad format for links: {link}")
    if len(parts) == 1:
        return link, link
    if parts[0].startswith("/"):
        return parts[0][1:], parts[1].rsplit("/", 1)[-1]
    return parts[0], parts[1]


def child(containers: Sequence[Member], name: str) -> Member | None:
    """The container a link names (its name or ID), following --network container:X to the network's owner."""
    found = next((o for o in containers if o.name == name.lstrip("/") or o.id == name), None)
    if found is None:
        prefixed = [o for o in containers if name and o.id.startswith(name)]
        found = prefixed[0] if len(prefixed) == 1 else None
    seen = 0
    while found is not None and str(found.data["HostConfig"].get("NetworkMode") or "").startswith("container:"):
        owner = str(found.data["HostConfig"]["NetworkMode"]).split(":", 1)[1]
        found, seen = next((o for o in containers if owner in (o.id, o.name)), None), seen + 1
        if seen > len(containers):
            return None
    return found


HOST_AND_LINKS = (
    "conflicting options: host type networking can't be used with links. This would result in undefined behavior"
)


def _legacy(mode: str) -> bool:
    return mode in ("default", DEFAULT, "none", "host") or mode.startswith("container:")


def check(host_config: dict[str, Any], containers: Sequence[Member]) -> None:
    """Refuse (400) at create the links dockerd refuses: to a missing container, or with host networking. On a
    user network links are only names for its DNS and go unchecked, as dockerd's."""
    links = host_config.get("Links") or []
    mode = str(host_config.get("NetworkMode") or "default")
    if not links or not _legacy(mode):
        return
    if mode == "host":
        raise InvalidInput(HOST_AND_LINKS)
    for link in links:
        name, _ = parse(link)
        found = child(containers, name)
        if found is None:
            raise InvalidInput(f"could not get container for {name}: No such container: {name}")
        if found.data["HostConfig"].get("NetworkMode") == "host":
            raise InvalidInput(HOST_AND_LINKS)


def children(c: Member, containers: Sequence[Member]) -> list[tuple[str, Member]]:
    """(link name `/parent/alias`, linked container) of each link of `c` whose container exists."""
    found = []
    for link in c.data["HostConfig"].get("Links") or []:
        name, alias = parse(link)
        target = child(containers, name)
        if target is not None:
            found.append((f"/{c.name}/{alias}", target))
    return found


def shown(c: Member, containers: Sequence[Member]) -> list[str] | None:
    """HostConfig.Links as dockerd shows them: `/child:/parent/alias` of the legacy links, None without any."""
    if not _legacy(str(c.data["HostConfig"].get("NetworkMode") or "default")):
        return None
    return [f"/{target.name}:{link}" for link, target in children(c, containers)] or None


def environment(c: Member, containers: Sequence[Member]) -> list[str]:
    """The variables `c` gets for its links when it starts on the default bridge (none elsewhere); Conflict for a
    link to a container that is not running there."""
    if not _legacy(str(c.data["HostConfig"].get("NetworkMode") or "default")) or DEFAULT not in c.networks:
        return []
    env: list[str] = []
    for link, target in children(c, containers):
        if not target.running:
            raise Conflict(f"Cannot link to a non running container: /{target.name} AS {link}")
        address = (target.networks.get(DEFAULT) or {}).get("IPAddress")
        if not address:
            raise Conflict(f"container {target.id} not attached to default bridge network")
        env += variables(link, address, target.data["Config"])
    return env


def _port(spec: str) -> tuple[int, str]:
    number, _, proto = spec.partition("/")
    return int(number), proto or "tcp"


def _tcp_first(port: tuple[int, str]) -> tuple[int, str, int]:
    return (0 if port[1] == "tcp" else 1, port[1], port[0])


def variables(link: str, address: str, config: dict[str, Any]) -> list[str]:
    """dockerd's Link.ToEnv for link name `/parent/alias` to a container with `config` at `address`: its ports
    (TCP first, runs of consecutive ports also as ranges), its link name and its own environment."""
    alias = link.rsplit("/", 1)[-1].upper().replace("-", "_")
    ports = sorted(map(_port, config.get("ExposedPorts") or {}), key=_tcp_first)
    env: list[str] = []
    start = end = ports[0] if ports else (0, "")
    for i, (number, proto) in enumerate(ports):
        if i == 0:
            env.append(f"{alias}_PORT={proto}://{address}:{number}")
        prefix = f"{alias}_PORT_{number}_{proto.upper()}"
        env += [
            f"{prefix}={proto}://{address}:{number}",
            f"{prefix}_ADDR={address}",
            f"{prefix}_PORT={number}",
            f"{prefix}_PROTO={proto}",
        ]
        if number == end[0] + 1 and proto == end[1]:
            end = (number, proto)
            if i < len(ports) - 1:
                continue
        if end != start:
            prefix = f"{alias}_PORT_{start[0]}_{start[1].upper()}"
            env += [
                f"{prefix}_START={start[1]}://{address}:{start[0]}",
                f"{prefix}_PORT_START={start[0]}",
                f"{prefix}_END={end[1]}://{address}:{end[0]}",
                f"{prefix}_PORT_END={end[0]}",
            ]
        start = end = (number, proto)
    env.append(f"{alias}_NAME={link}")
    for item in config.get("Env") or []:
        name, sep, value = item.partition("=")
        if sep and name not in ("HOME", "PATH"):  # set by builds, not the linked container's own
            env.append(f"{alias}_ENV_{name}={value}")
    return env


def find(ref: str, containers: Sequence[Member]) -> tuple[Member, str] | None:
    """The container and the entry of its HostConfig.Links that link name `ref` (`parent/alias`) means, if any."""
    parent_name, _, alias = ref.strip("/").rpartition("/")
    for parent in (o for o in containers if parent_name and o.name == parent_name):
        for link in parent.data["HostConfig"].get("Links") or []:
            name, linked_as = parse(link)
            if linked_as == alias and child(containers, name) is not None:
                return parent, link
    return None
