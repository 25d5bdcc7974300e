"""A network's host side: its Linux bridge with the gateway address, NAT to the outside, and firewall rules that
keep networks from reaching each other (and an internal network's containers from reaching anything but it)."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .commands import Rule, firewall, ip
from .options import MASQUERADE

log = logging.getLogger("guest.network")


def rules(record: dict[str, Any], others: list[str], nat: bool = True) -> list[Rule]:
    """The firewall rules of network `record`: NAT to the outside (with `nat`), forwarding to and from its bridge,
    no traffic between it and the bridges `others`, and for an --internal network, as dockerd's: nothing routed
    out of its bridge but to its subnet, nothing routed into it but from its subnet (its containers still reach
    each other and the gateway)."""
    bridge = record["Bridge"]
    subnet = str(ipaddress.ip_network(record["Subnet"], strict=False))  # as iptables-save prints it
    found = []
    if nat:
        found.append(Rule("-A", "nat", "POSTROUTING", ("-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE")))
    found.append(Rule("-A", "filter", "FORWARD", ("-i", bridge, "-j", "ACCEPT")))
    found.append(Rule("-A", "filter", "FORWARD", ("-o", bridge, "-j", "ACCEPT")))
    for other in others:  # networks do not reach each other
        if other != bridge:
            found.append(Rule("-I", "filter", "FORWARD", ("-i", bridge, "-o", other, "-j", "DROP")))
            found.append(Rule("-I", "filter", "FORWARD", ("-i", other, "-o", bridge, "-j", "DROP")))
    if record.get("Internal"):
        found.append(Rule("-I", "filter", "FORWARD", ("!", "-d", subnet, "-i", bridge, "-j", "DROP")))
        found.append(Rule("-I", "filter", "FORWARD", ("!", "-s", subnet, "-o", bridge, "-j", "DROP")))
    return found


def set_up(records: Sequence[dict[str, Any]], others: list[str]) -> None:
    """Create (or complete) the bridges of networks `records`, isolated from the bridges `others`: one `ip` batch
    and one firewall batch for all of them."""
    commands = []
    for record in records:
        bridge = record["Bridge"]
        if not os.path.exists(f"/sys/class/net/{bridge}"):
            prefix = ipaddress.ip_network(record["Subnet"], strict=False).prefixlen
            commands += [f"link add {bridge} type bridge", f"addr add {record['Gateway']}/{prefix} dev {bridge}"]
        commands.append(f"link set {bridge} up")
    ip(batch="\n".join(commands) + "\n", force=True)
    try:
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    except OSError:
        log.warning("cannot enable IPv4 forwarding: containers will not reach the outside")
    firewall([rule for r in records for rule in rules(r, others, nat=not r.get("Internal") and masquerading(r))])


def masquerading(record: dict[str, Any]) -> bool:
    """Whether the network's traffic to the outside is NATed (-o com.docker.network.bridge.enable_ip_masquerade)."""
    return str((record.get("Options") or {}).get(MASQUERADE, "true")).lower() in ("true", "1")


def tear_down(record: dict[str, Any], others: list[str]) -> None:
    """Remove the bridge of network `record` and every rule set_up() made for it."""
    firewall(rules(record, others), remove=True)
    ip("link", "del", record["Bridge"])
