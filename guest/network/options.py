"""What `docker network create` asks for, checked as dockerd checks it: the IPAM config (--subnet, --ip-range,
--gateway, --aux-address) and the bridge driver's options (-o). What cannot be honoured here is refused (400)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..errors import InvalidInput, Unsupported

BRIDGE_NAME = "com.docker.network.bridge.name"
MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
ICC = "com.docker.network.bridge.enable_icc"
_IFNAME = re.compile(r"[a-zA-Z0-9_.-]{1,15}")


def _within(text: str, subnet: ipaddress.IPv4Network) -> str:
    """Why address `text` cannot be in `subnet`, or ""."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return "invalid address"
    return "" if address in subnet else f"subnet {subnet} doesn't contain this address"


def ipam(body: dict[str, Any]) -> dict[str, Any] | None:
    """The network's one IPv4 IPAM config as given (Subnet, IPRange, Gateway, AuxiliaryAddresses), None when it
    asked for none; refuses another IPAM driver, IPv6 and what dockerd's validateIpamConfig refuses."""
    if body.get("EnableIPv6"):
        raise Unsupported("IPv6 networks (--ipv6) are not supported here")
    given = body.get("IPAM") or {}
    driver = given.get("Driver") or "default"
    if driver != "default":
        raise Unsupported(f"IPAM driver {driver!r} is not supported (only default)")
    configs = given.get("Config") or []
    if len(configs) > 1:
        raise Unsupported("only one subnet per network is supported here")
    if not configs:
        return None
    config = configs[0]
    if not config.get("Subnet"):
        raise InvalidInput("an IPAM config needs a subnet (--subnet) here")
    try:
        subnet = ipaddress.ip_network(config["Subnet"], strict=False)
    except ValueError:
        raise InvalidInput(f"invalid subnet {config['Subnet']}: invalid CIDR block notation") from None
    if subnet.version == 6:
        raise Unsupported(f"IPv6 subnets are not supported here: {subnet}")
    assert isinstance(subnet, ipaddress.IPv4Network)
    errors = []
    if str(subnet) != config["Subnet"]:
        errors.append(f"invalid subnet {config['Subnet']}: it should be {subnet}")
    if config.get("IPRange"):
        try:
            pool = ipaddress.ip_network(config["IPRange"], strict=False)
            if str(pool) != config["IPRange"]:
                errors.append(f"invalid ip-range {config['IPRange']}: it should be {pool}")
            elif not (pool.version == 4 and pool.subnet_of(subnet)):
                errors.append(f"invalid ip-range {config['IPRange']}: parent subnet {subnet} doesn't contain ip-range")
        except ValueError:
            errors.append(f"invalid ip-range {config['IPRange']}: invalid CIDR block notation")
    if config.get("Gateway") and _within(config["Gateway"], subnet):
        errors.append(f"invalid gateway {config['Gateway']}: {_within(config['Gateway'], subnet)}")
    for name, address in (config.get("AuxiliaryAddresses") or {}).items():
        if _within(address, subnet):
            errors.append(f"invalid auxiliary address {name}: {_within(address, subnet)}")
    if errors:
        raise InvalidInput("invalid network config:\n" + "\n".join(errors))
    return {k: config[k] for k in ("Subnet", "IPRange", "Gateway", "AuxiliaryAddresses") if config.get(k)}


def driver_options(body: dict[str, Any]) -> dict[str, str]:
    """The bridge options (-o) the network honours: its bridge's name and IP masquerading; refuses the others and
    what cannot be a local bridge network here (ingress, config-only, another scope)."""
    if body.get("Ingress") or body.get("ConfigOnly") or (body.get("ConfigFrom") or {}).get("Network"):
        raise Unsupported("ingress and config-only networks (swarm) are not supported here")
    if (body.get("Scope") or "local") != "local":
        raise Unsupported(f"network scope {body['Scope']!r} is not supported (only local)")
    given: dict[str, str] = dict(body.get("Options") or {})
    for key, value in given.items():
        if key == BRIDGE_NAME:
            if not _IFNAME.fullmatch(value):
                raise InvalidInput(f"invalid bridge name {value[:100]!r}: 1 to 15 of [a-zA-Z0-9_.-]")
        elif key in (MASQUERADE, ICC):
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidInput(f"invalid value {value[:100]!r} for {key}: true or false")
            if key == ICC and value.lower() in ("false", "0"):
                raise Unsupported(f"{key}=false is not supported here: containers of a network always reach each other")
        else:
            raise Unsupported(
                f"network option {key!r} is not supported here (only {BRIDGE_NAME}, {MASQUERADE} and {ICC})"
            )
    return given
