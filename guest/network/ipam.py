"""Addresses: a /24 for each new user network that asks for no subnet, and the next free address of a network
(of its ip-range) for each endpoint."""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from ..errors import Exhausted

USER_SUBNETS = ipaddress.ip_network("10.89.0.0/16")


def overlapping(subnet: str, used: set[str]) -> bool:
    """Whether `subnet` overlaps one of the subnets `used`."""
    wanted = ipaddress.ip_network(subnet)
    return any(wanted.overlaps(ipaddress.ip_network(u)) for u in used)


def free_subnet(used: set[str]) -> str | None:
    """The first /24 of USER_SUBNETS that overlaps no network's (never the .0.0/24), or None when all are taken."""
    return next(
        (
            str(s)
            for s in USER_SUBNETS.subnets(new_prefix=24)
            if not str(s).endswith(".0.0/24") and not overlapping(str(s), used)
        ),
        None,
    )


def gateway(subnet: str) -> str:
    """The bridge's own address: the subnet's first."""
    return str(ipaddress.ip_network(subnet).network_address + 1)


def next_address(record: dict[str, Any], taken: set[str]) -> str:
    """The next free address of the network's ip-range (else subnet) after the last one handed out (not the
    lowest: peers may still cache its MAC), never its gateway or an auxiliary address.

    Sets the record's LastAddress: the caller saves the record."""
    subnet = ipaddress.ip_network(record["Subnet"])
    config = record.get("IPAMConfig") or {}
    pool = ipaddress.ip_network(config.get("IPRange") or record["Subnet"])
    first, size = int(pool.network_address), pool.num_addresses
    reserved = {str(subnet.network_address), str(subnet.broadcast_address), record["Gateway"]}
    reserved |= set((config.get("AuxiliaryAddresses") or {}).values())
    last = record.get("LastAddress")
    # a fresh network starts at a random place: another agent sharing this host's bridge rarely collides
    start = int(ipaddress.ip_address(last)) - first + 1 if last else int.from_bytes(os.urandom(2), "big")
    for step in range(size):
        candidate = str(ipaddress.ip_address(first + (start + step) % size))
        if candidate not in reserved and candidate not in taken:
            record["LastAddress"] = candidate
            return candidate
    raise Exhausted(f"network {record['Name']} has no free address left")


def mac(address: str) -> str:
    """The MAC of an IPv4 address, as Docker derives it (02:42 and the address's bytes)."""
    return "02:42:" + ":".join(f"{int(octet):02x}" for octet in address.split("."))
