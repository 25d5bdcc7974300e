"""Networks as containers use them: bridges set up on first use (with a DNS server on user networks), and each
container's endpoints (namespace, interfaces, addresses, published ports) made before it starts and undone after."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from ..errors import Conflict, EngineError, Forbidden, InvalidInput, SystemFailure
from . import bridge, dns, endpoints, ipam, names, namespace, ports
from .member import Member
from .store import DEFAULT, NetworkStore

log = logging.getLogger("guest.network")

HOST = "host"  # prepare()'s answer for --network host: no network namespace at all


def primary(c: Member) -> str:
    """The network a container's NetworkMode names (`default` is the bridge network)."""
    mode = c.data["HostConfig"].get("NetworkMode") or "default"
    return DEFAULT if mode == "default" else str(mode)


def wanted(c: Member) -> list[str]:
    """The networks container `c` joins at start: its primary one, then the extra ones it was given."""
    found = [primary(c)]
    extra = (c.data.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    found += [n for n in (DEFAULT if e == "default" else e for e in extra) if n not in found]
    found += [n for n in c.data.get("ExtraNetworks", []) if n not in found]
    return found


class Networks(NetworkStore):
    """The network records, their bridges on this host, and the containers' endpoints on them."""

    def __init__(self, root: Path, containers: Callable[[], Sequence[Member]] = list) -> None:
        super().__init__(root)
        self._containers = containers  # every container, for the DNS server's answers
        self._dns: dict[str, dns.Server] = {}
        self._proxies: dict[str, list[ports.Proxy]] = {}
        self._ready: set[str] = set()

    # -- bridges ------------------------------------------------------------------------------------
    def _set_up(self, record: dict[str, Any]) -> None:
        self._set_up_all([record])

    def _set_up_all(self, records: list[dict[str, Any]]) -> None:
        """Set up the bridges of `records` not set up yet (in one batch), then their DNS servers."""
        todo = [
            r for r in records if r["Bridge"] not in self._ready or not os.path.exists(f"/sys/class/net/{r['Bridge']}")
        ]
        if not todo:
            return
        bridge.set_up(todo, self.bridges())
        for record in todo:
            name = record["Bridge"]
            if not record.get("Builtin") and name not in self._dns:
                try:
                    self._dns[name] = dns.Server(record["Gateway"], self.resolve)
                except OSError as e:
                    log.warning("no DNS for network %s (%s): names resolve only through /etc/hosts", record["Name"], e)
            self._ready.add(name)

    def set_up_used(self, containers: Sequence[Member]) -> None:
        """At start-up: the networks of the containers that run (or are to restart), set up in one batch, with their
        DNS servers (the others are set up on first use)."""
        used = {n for c in containers if c.running for n in [*c.networks, *wanted(c)]}
        with self._lock:
            self._set_up_all([r for r in self.all() if r.get("Bridge") and r["Name"] in used])

    def _tear_down(self, record: dict[str, Any]) -> None:
        server = self._dns.pop(record["Bridge"], None)
        if server is not None:
            server.close()
        bridge.tear_down(record, self.bridges())
        self._ready.discard(record["Bridge"])

    def remove(self, record: dict[str, Any], in_use: list[str]) -> None:
        if record.get("Builtin"):
            raise Forbidden(f"{record['Name']} is a pre-defined network and cannot be removed")
        if in_use:
            raise Forbidden(
                f"error while removing network: network {record['Name']} id {record['Id']} has active endpoints"
            )
        with self._lock:
            self._tear_down(record)
            self.forget(record)

    def teardown_host(self) -> None:
        """Remove every bridge and firewall rule of these networks (containers must be stopped)."""
        with self._lock:
            for record in self.all():
                if record.get("Bridge"):
                    self._tear_down(record)

    # -- endpoints ----------------------------------------------------------------------------------
    def prepare(self, c: Member, used_ips: set[str], peer_netns: str | None) -> str | None:
        """Give container `c` its networks before it starts; returns the netns path (or HOST)."""
        mode = primary(c)
        if mode == "host":
            c.data["NetworkSettings"] = {"Networks": {"host": {}}, "Ports": {}}
            return HOST
        if mode.startswith("container:"):
            if not peer_netns:
                raise InvalidInput(f"cannot join the network of {mode[10:]}: it is not running")
            c.data["NetworkSettings"] = {"Networks": {}, "Ports": {}}
            return peer_netns
        records = [self.get(n) for n in wanted(c)]
        self._delete_namespace(c)
        c.data["NetworkSettings"] = {"Networks": {}, "Ports": {}, "SandboxKey": namespace.path(c.id)}
        if mode == "none":
            namespace.create_isolated(c.id)
            c.data["NetworkSettings"]["Networks"] = {"none": {}}
            return namespace.path(c.id)
        try:
            for index, record in enumerate(records):  # the first one also creates the namespace: fewer ip runs
                self.connect(c, record, used_ips, primary=index == 0, new_namespace=index == 0)
            self.publish(c)
        except EngineError:
            self.release(c)
            raise
        return namespace.path(c.id)

    def connect(
        self,
        c: Member,
        record: dict[str, Any],
        used_ips: set[str],
        primary: bool = False,
        new_namespace: bool = False,
    ) -> None:
        """One more interface (eth0, eth1, ...) in the container's namespace, on network `record`: with the address
        asked for (409 when another endpoint has it), else the one it had, else the next free one. The default route
        goes through the first network that is not --internal, as dockerd's gateway endpoint."""
        if record.get("Builtin") and record["Name"] != DEFAULT:
            raise InvalidInput(f"container cannot be connected to network {record['Name']}")
        settings = c.data["NetworkSettings"]
        if record["Name"] in settings["Networks"]:
            raise Conflict(f"endpoint with name {c.name} already exists in network {record['Name']}")
        with self._lock:
            self._set_up(record)
            subnet = ipaddress.ip_network(record["Subnet"])
            previous = (c.data.get("Addresses") or {}).get(record["Name"])
            # every live endpoint counts, also those of containers still starting (made under this lock)
            live = {e.get("IPAddress") for o in self._containers() if o is not c for e in o.networks.values()}
            taken = used_ips | live | {e.get("IPAddress") for e in settings["Networks"].values()}
            requested = endpoints.requested_ip(c, record["Name"])
            if requested:
                if requested in taken:
                    raise Conflict(f"failed to set up container networking: Address already in use: {requested}")
                address = requested
            elif previous and previous not in taken:
                address = previous
            else:
                address = ipam.next_address(record, taken)
                self.save(record)
            index = len([n for n in settings["Networks"].values() if n.get("IPAddress")])
            route = not record.get("Internal") and self.gateway_address(c) is None
            try:
                interface = namespace.add_interface(
                    c.id,
                    index,
                    address,
                    subnet.prefixlen,
                    record["Bridge"],
                    record["Gateway"] if route else None,
                    new_namespace,
                    endpoints.requested_mac(c, record["Name"], primary),
                )
            except SystemFailure as e:
                raise SystemFailure(f"connecting to network {record['Name']} failed: {e.message}") from None
        endpoint_aliases = endpoints.configured(c, record["Name"]).get("Aliases") or []
        endpoint = {
            "IPAddress": address,
            "IPPrefixLen": subnet.prefixlen,
            "Gateway": record["Gateway"],
            "MacAddress": interface["MacAddress"],
            "NetworkID": record["Id"],
            "EndpointID": os.urandom(32).hex(),
            "Aliases": list(endpoint_aliases) or None,
            "Links": endpoints.configured(c, record["Name"]).get("Links") or None,
            "DNSNames": None if record.get("Builtin") else [c.name, c.id[:12], *endpoint_aliases],
            "Interface": interface["Interface"],
            "Veth": interface["Veth"],
        }
        settings["Networks"][record["Name"]] = endpoint
        c.data.setdefault("Addresses", {})[record["Name"]] = address
        if primary:
            settings.update({k: endpoint[k] for k in ("IPAddress", "IPPrefixLen", "Gateway", "MacAddress")})

    def disconnect(self, c: Member, record: dict[str, Any]) -> None:
        endpoint = (c.data.get("NetworkSettings") or {}).get("Networks", {}).pop(record["Name"], None)
        if endpoint is None:
            raise Conflict(f"container {c.id[:12]} is not connected to network {record['Name']}")
        if endpoint.get("Veth"):
            namespace.remove_interface(endpoint["Veth"])

    def gateway_address(self, c: Member) -> str | None:
        """The address of the container's gateway endpoint: on its first network that is not --internal."""
        for endpoint in c.networks.values():
            record = self._records.get(endpoint.get("NetworkID") or "")
            if record is not None and not record.get("Internal") and endpoint.get("IPAddress"):
                return str(endpoint["IPAddress"])
        return None

    def resume(self, c: Member) -> None:
        """After an agent restart, a container still running: the bridges of its networks as set_up() makes them
        (rules lost meanwhile are restored), then its published ports."""
        with self._lock:
            for endpoint in c.networks.values():
                record = self._records.get(endpoint.get("NetworkID") or "")
                if record is not None and record.get("Bridge"):
                    self._set_up(record)
        self.publish(c)

    def publish(self, c: Member) -> None:
        """Open the container's published ports on its gateway endpoint; a container only on --internal networks
        has none, and publishes nothing (as dockerd)."""
        settings = c.data.get("NetworkSettings") or {}
        address = self.gateway_address(c)
        opened, proxies = ports.open_all(c, address) if address else ({}, [])
        with self._lock:
            for old in self._proxies.pop(c.id, []):
                old.close()
            self._proxies[c.id] = proxies
        settings["Ports"] = opened
        c.data["NetworkSettings"] = settings

    def _delete_namespace(self, c: Member) -> None:
        namespace.delete(c.id, [e["Veth"] for e in c.networks.values() if e.get("Veth")])

    def release(self, c: Member) -> None:
        """Undo prepare(): close the ports, delete the namespace and its interfaces."""
        with self._lock:
            for proxy in self._proxies.pop(c.id, []):
                proxy.close()
        self._delete_namespace(c)
        settings = c.data.get("NetworkSettings") or {}
        settings.update(Ports={}, SandboxKey="", Networks={}, IPAddress="", Gateway="", MacAddress="")

    # -- names --------------------------------------------------------------------------------------
    def resolve(self, querier: str, name: str) -> str | None:
        """The DNS servers' lookup: also containers still starting (their endpoints exist before they run)."""
        return names.lookup(self._containers(), querier, name)

    def nameserver(self, c: Member) -> str | None:
        """The DNS server for container `c`: its first user network's gateway (None on builtin networks)."""
        for name in c.networks:
            record = next((r for r in self.all() if r["Name"] == name), None)
            if record and not record.get("Builtin") and record.get("Bridge") in self._dns:
                return str(record["Gateway"])
        return None
