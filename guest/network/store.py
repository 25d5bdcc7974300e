"""Network records: `networks/<id>.json`, the builtin ones (bridge, host, none) made on first start."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import times
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, Unsupported
from ..files import write_json
from . import ipam, options
from .member import Member

log = logging.getLogger("guest.network")

DEFAULT = "bridge"
DEFAULT_BRIDGE = "machine0"
DEFAULT_SUBNET = "172.30.0.0/16"
BUILTIN = ("bridge", "host", "none")
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def network_json(record: dict[str, Any], members: dict[str, Any]) -> dict[str, Any]:
    """A network as `docker network inspect` shows it."""
    return {
        "Name": record["Name"],
        "Id": record["Id"],
        "Created": record["Created"],
        "Scope": "local",
        "Driver": record.get("Driver", "bridge"),
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": record.get("IPAMOptions"),
            "Config": [record["IPAMConfig"]]
            if record.get("IPAMConfig")
            else [{"Subnet": record["Subnet"], "Gateway": record["Gateway"]}]
            if record.get("Subnet")
            else [],
        },
        "Internal": bool(record.get("Internal")),
        "Attachable": bool(record.get("Attachable")),
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": members,
        "Options": {options.BRIDGE_NAME: record["Bridge"]}
        if record.get("Builtin") and record.get("Bridge")
        else record.get("Options") or {},
        "Labels": record.get("Labels") or {},
    }


def readable(record: Any) -> bool:
    """Whether a stored record has the fields of its kinds that everything else relies on."""
    return (
        isinstance(record, dict)
        and all(isinstance(record.get(k), str) for k in ("Id", "Name", "Created"))
        and all(isinstance(record.get(k, ""), str) for k in ("Driver", "Bridge", "Subnet", "Gateway"))
        and isinstance(record.get("Labels") or {}, dict)
    )


class NetworkStore:
    """The network records, by ID, name or unique ID prefix."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}
        for path in root.glob("*.json"):
            try:
                record = json.loads(path.read_text())
                if not readable(record):
                    raise ValueError("not a network record")
                self._records[record["Id"]] = record
            except (OSError, ValueError) as e:
                log.warning("ignoring unreadable network record %s: %s", path, e)
        for name in BUILTIN:
            if not any(r["Name"] == name for r in self._records.values()):
                self.save(
                    {
                        "Name": name,
                        "Id": os.urandom(32).hex(),
                        "Created": times.utc(),
                        "Driver": {"bridge": "bridge", "host": "host", "none": "null"}[name],
                        "Bridge": DEFAULT_BRIDGE if name == "bridge" else "",
                        "Subnet": DEFAULT_SUBNET if name == "bridge" else "",
                        "Gateway": "172.30.0.1" if name == "bridge" else "",
                        "Builtin": True,
                    }
                )

    def save(self, record: dict[str, Any]) -> None:
        write_json(self.root / f"{record['Id']}.json", record)
        self._records[record["Id"]] = record

    def get(self, ref: str) -> dict[str, Any]:
        ref = DEFAULT if ref == "default" else ref
        with self._lock:
            for r in self._records.values():
                if r["Name"] == ref or r["Id"] == ref:
                    return r
            matches = [r for r in self._records.values() if ref and r["Id"].startswith(ref)]
            if len(matches) == 1:
                return matches[0]
        raise NotFound(f"network {ref} not found")

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records.values())

    def bridges(self) -> list[str]:
        return [r["Bridge"] for r in self.all() if r.get("Bridge")]

    def inspect(self, record: dict[str, Any], containers: Sequence[Member]) -> dict[str, Any]:
        members = {}
        for c in containers:
            endpoint = c.networks.get(record["Name"])
            if c.running and endpoint is not None:
                members[c.id] = {
                    "Name": c.name,
                    "EndpointID": endpoint.get("EndpointID", ""),
                    "MacAddress": endpoint.get("MacAddress", ""),
                    "IPv4Address": f"{endpoint['IPAddress']}/{endpoint['IPPrefixLen']}"
                    if endpoint.get("IPAddress")
                    else "",
                    "IPv6Address": "",
                }
        return network_json(record, members)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new user network from a create request: its subnet, gateway and ip-range as given (else a free /24),
        its bridge (named as asked, else after its ID)."""
        name, driver = body.get("Name") or "", body.get("Driver") or "bridge"
        if not name:
            raise InvalidInput("network name is required")
        if not isinstance(name, str) or len(name) > 255 or not _NAME.fullmatch(name):
            raise InvalidInput(
                f"invalid network name {str(name)[:300]!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-], at most 255 characters"
            )
        if driver not in ("", "bridge"):
            raise Unsupported(f"network driver {driver!r} is not supported (only bridge)")
        config, given = options.ipam(body), options.driver_options(body)
        with self._lock:
            if any(r["Name"] == name for r in self._records.values()):
                raise Conflict(f"network with name {name} already exists")
            used = {r.get("Subnet") or "" for r in self._records.values()} - {""}
            if config is None:
                subnet = ipam.free_subnet(used)
                if subnet is None:
                    raise Conflict("no free subnet left for a new network: remove unused networks")
            elif ipam.overlapping(config["Subnet"], used):
                raise Forbidden("Pool overlaps with other one on this address space")
            else:
                subnet = config["Subnet"]
            net_id = os.urandom(32).hex()
            bridge = given.get(options.BRIDGE_NAME) or f"mbr-{net_id[:10]}"
            if bridge in self.bridges() or os.path.exists(f"/sys/class/net/{bridge}"):
                raise Conflict(f"bridge name {bridge} is already in use on this host")
            record = {
                "Name": name,
                "Id": net_id,
                "Created": times.utc(),
                "Driver": "bridge",
                "Bridge": bridge,
                "Subnet": subnet,
                "Gateway": (config or {}).get("Gateway") or ipam.gateway(subnet),
                "Labels": body.get("Labels") or {},
                "Internal": bool(body.get("Internal")),
                "Attachable": bool(body.get("Attachable")),
                "Options": given,
                "IPAMOptions": (body.get("IPAM") or {}).get("Options") or None,
            }
            if config is not None:
                record["IPAMConfig"] = config
            self.save(record)
            return record

    def forget(self, record: dict[str, Any]) -> None:
        with self._lock:
            (self.root / f"{record['Id']}.json").unlink(missing_ok=True)
            self._records.pop(record["Id"], None)
