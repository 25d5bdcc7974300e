"""A container's endpoint settings as the API shows and takes them: every field of Docker's EndpointSettings, for
a running container (its live endpoints) and a stopped or created one (the networks it joins, configured fields
only); and the address and MAC an endpoint was asked for (--ip, --mac-address)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..errors import InvalidInput, Unsupported
from . import links
from .member import Member
from .store import DEFAULT

_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")


def configured(c: Member, network: str) -> dict[str, Any]:
    """The endpoint config the container was created or connected with for `network` (`default` is the bridge)."""
    endpoints = (c.data.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    found = endpoints.get(network) or (endpoints.get("default") if network == DEFAULT else None)
    return found if isinstance(found, dict) else {}


def requested_ip(c: Member, network: str) -> str:
    """The IPv4 address asked for on `network` (--ip), or ""."""
    return str((configured(c, network).get("IPAMConfig") or {}).get("IPv4Address") or "")


def requested_mac(c: Member, network: str, primary: bool) -> str:
    """The MAC address asked for on `network` (--mac-address; the old Config.MacAddress is the primary's), or ""."""
    wanted = configured(c, network).get("MacAddress") or (c.data["Config"].get("MacAddress") if primary else "")
    return str(wanted or "").lower()


def check(record: dict[str, Any], endpoint: dict[str, Any], config_mac: str = "") -> None:
    """Refuse (400) an endpoint config this network cannot give: an address outside its subnet, on a builtin
    network, an IPv6 one (no network has IPv6 here), or a MAC that is not one."""
    ipam = endpoint.get("IPAMConfig") or {}
    address = ipam.get("IPv4Address") or ""
    if ipam.get("IPv6Address") or ipam.get("LinkLocalIPs"):
        raise Unsupported(
            f"network {record['Name']} has no IPv6 (IPv6 networks are not supported here): "
            f"cannot give the endpoint {ipam.get('IPv6Address') or ', '.join(ipam['LinkLocalIPs'])}"
        )
    if address:
        if record.get("Builtin"):
            raise InvalidInput("user specified IP address is supported on user defined networks only")
        if not record.get("IPAMConfig"):
            raise InvalidInput(
                "user specified IP address is supported only when connecting to networks with user configured subnets"
            )
        if ipaddress.ip_address(address) not in ipaddress.ip_network(record["Subnet"]) or address == record["Gateway"]:
            raise InvalidInput(
                f"no configured subnet or ip-range contain the IP address {address} "
                f"(network {record['Name']} has {record['Subnet']}, gateway {record['Gateway']})"
            )
    for link in endpoint.get("Links") or []:
        links.parse(link)
    for mac in (endpoint.get("MacAddress") or "", config_mac):
        if mac and not _MAC.fullmatch(mac):
            raise InvalidInput(f"invalid MAC address: {mac}")


def kept(endpoint: dict[str, Any]) -> dict[str, Any]:
    """What of an endpoint config a container keeps for a network it joins (docker network connect): what was asked
    for, not what the endpoint got."""
    return {k: endpoint[k] for k in ("IPAMConfig", "Aliases", "MacAddress", "Links", "DriverOpts") if endpoint.get(k)}


def shown(c: Member, network: str, live: dict[str, Any] | None) -> dict[str, Any]:
    """Docker's EndpointSettings for `network`: `live` is the running container's endpoint (None when stopped)."""
    config = configured(c, network)
    live = live or {}
    return {
        "IPAMConfig": config.get("IPAMConfig") or None,
        "Links": config.get("Links") or None,
        "Aliases": live.get("Aliases") or config.get("Aliases") or None,
        "MacAddress": live.get("MacAddress", ""),
        "DriverOpts": config.get("DriverOpts") or None,
        "NetworkID": live.get("NetworkID", ""),
        "EndpointID": live.get("EndpointID", ""),
        "Gateway": live.get("Gateway", ""),
        "IPAddress": live.get("IPAddress", ""),
        "IPPrefixLen": live.get("IPPrefixLen", 0),
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": live.get("DNSNames") or None,
    }
