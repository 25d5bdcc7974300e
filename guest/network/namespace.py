"""A container's network namespace (`machine-<id>`) and its interfaces: one veth pair per network, the host end
on the network's bridge, the other end `ethN` inside."""

from __future__ import annotations

import logging
import os
import re

from ..errors import SystemFailure
from .commands import ip
from .ipam import mac

log = logging.getLogger("guest.network")


def name(cid: str) -> str:
    return f"machine-{cid[:12]}"


def path(cid: str) -> str:
    return f"/run/netns/{name(cid)}"


def create_isolated(cid: str) -> None:
    """A namespace with only loopback (--network none)."""
    ns = name(cid)
    if ip("netns", "add", ns).returncode != 0:
        raise SystemFailure(f"creating the network namespace {ns} failed")
    ip("link", "set", "lo", "up", netns=ns)


def add_interface(
    cid: str,
    index: int,
    address: str,
    prefixlen: int,
    bridge: str,
    gateway: str | None,
    new_namespace: bool,
    mac_address: str = "",
) -> dict[str, str]:
    """Interface `eth<index>` with `address` (and `mac_address`, else one derived from the address), its peer on
    `bridge`; the default route via `gateway` if given. With `new_namespace`, the namespace is created first (one
    `ip` run less). Returns Interface, Veth, MacAddress."""
    iface, veth, ns, mac_address = f"eth{index}", f"v{index}{cid[:11]}", name(cid), mac_address or mac(address)
    if os.path.exists(f"/sys/class/net/{veth}"):
        ip("link", "del", veth)
    host_side = ip(
        batch=(f"netns add {ns}\n" if new_namespace else "")
        + f"link add {veth} type veth peer name {iface} address {mac_address} netns {ns}\n"
        f"link set {veth} master {bridge} up\n"
    )
    routes = f"route add default via {gateway}\n" if gateway else ""
    inside = ip(
        batch=("link set lo up\n" if new_namespace else "")
        + f"addr add {address}/{prefixlen} dev {iface}\nlink set {iface} up\n{routes}",
        netns=ns,
    )
    if host_side.returncode != 0 or inside.returncode != 0:
        raise SystemFailure((host_side.stderr or inside.stderr).strip())
    if _in_arp_cache(address):
        ip("neigh", "flush", "to", address, "dev", bridge)  # forget an earlier owner's MAC
    return {"Interface": iface, "Veth": veth, "MacAddress": mac_address}


def remove_interface(veth: str) -> None:
    ip("link", "del", veth)


def delete(cid: str, veths: list[str]) -> None:
    """Delete the namespace and the veths (explicitly, at once: the namespace's own teardown is asynchronous);
    a veth that cannot be deleted (gone meanwhile) does not keep the namespace (`ip -force` goes on)."""
    commands = [f"link del {veth}" for veth in veths if os.path.exists(f"/sys/class/net/{veth}")]
    if os.path.exists(path(cid)):
        commands.append(f"netns del {name(cid)}")
    if commands:
        deleted = ip(batch="\n".join(commands) + "\n", force=True)
        if deleted.returncode != 0:
            log.warning("container %s: deleting its network namespace: %s", cid[:12], deleted.stderr.strip())


def delete_leftover(cid: str) -> None:
    """Delete the namespace of a container that has no record any more, with its veths (v<N><id>)."""
    veths = [link for link in os.listdir("/sys/class/net") if re.fullmatch(rf"v\d+{re.escape(cid[:11])}", link)]
    delete(cid, veths)


def _in_arp_cache(address: str) -> bool:
    try:
        with open("/proc/net/arp") as f:
            return any(line.split()[0] == address for line in f.readlines()[1:])
    except OSError:
        return True
