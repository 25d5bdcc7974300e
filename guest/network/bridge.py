"""A network's host side: its Linux bridge with the gateway address, NAT to the outside, and firewall rules that
keep networks from reaching each other (and an internal network's containers from reaching anything but it)."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any

from .commands import ip, iptables
from .options import MASQUERADE

log = logging.getLogger("guest.network")


def set_up(record: dict[str, Any], others: list[str]) -> None:
    """Create (or complete) the bridge of network `record`, isolated from the bridges `others`."""
    bridge = record["Bridge"]
    prefix = ipaddress.ip_network(record["Subnet"]).prefixlen
    if ip("link", "show", bridge).returncode != 0:
        ip("link", "add", bridge, "type", "bridge")
        ip("addr", "add", f"{record['Gateway']}/{prefix}", "dev", bridge)
    ip("link", "set", bridge, "up")
    try:
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    except OSError:
        log.warning("cannot enable IPv4 forwarding: containers will not reach the outside")
    if not record.get("Internal") and masquerading(record):
        iptables("-A", "nat", "POSTROUTING", "-s", record["Subnet"], "!", "-o", bridge, "-j", "MASQUERADE")
    iptables("-A", "filter", "FORWARD", "-i", bridge, "-j", "ACCEPT")
    iptables("-A", "filter", "FORWARD", "-o", bridge, "-j", "ACCEPT")
    for other in others:  # networks do not reach each other
        if other != bridge:
            iptables("-I", "filter", "FORWARD", "-i", bridge, "-o", other, "-j", "DROP")
            iptables("-I", "filter", "FORWARD", "-i", other, "-o", bridge, "-j", "DROP")
    if record.get("Internal"):
        for rule in internal_rules(record):
            iptables("-I", "filter", "FORWARD", *rule)


def internal_rules(record: dict[str, Any]) -> list[tuple[str, ...]]:
    """The FORWARD rules that shut an --internal network in, as dockerd's: nothing routed out of its bridge but to
    its subnet, nothing routed into it but from its subnet (its containers still reach each other and the gateway)."""
    bridge, subnet = record["Bridge"], record["Subnet"]
    return [
        ("-i", bridge, "!", "-d", subnet, "-j", "DROP"),
        ("-o", bridge, "!", "-s", subnet, "-j", "DROP"),
    ]


def masquerading(record: dict[str, Any]) -> bool:
    """Whether the network's traffic to the outside is NATed (-o com.docker.network.bridge.enable_ip_masquerade)."""
    return str((record.get("Options") or {}).get(MASQUERADE, "true")).lower() in ("true", "1")


def tear_down(record: dict[str, Any], others: list[str]) -> None:
    """Remove the bridge of network `record` and every rule set_up() made for it."""
    bridge = record["Bridge"]
    iptables("-D", "nat", "POSTROUTING", "-s", record["Subnet"], "!", "-o", bridge, "-j", "MASQUERADE")
    iptables("-D", "filter", "FORWARD", "-i", bridge, "-j", "ACCEPT")
    iptables("-D", "filter", "FORWARD", "-o", bridge, "-j", "ACCEPT")
    for other in others:
        iptables("-D", "filter", "FORWARD", "-i", bridge, "-o", other, "-j", "DROP")
        iptables("-D", "filter", "FORWARD", "-i", other, "-o", bridge, "-j", "DROP")
    for rule in internal_rules(record):
        iptables("-D", "filter", "FORWARD", *rule)
    ip("link", "del", bridge)
