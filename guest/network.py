"""Container networks: Linux bridges with NAT, a network namespace per container with one veth per network,
published ports served by a small TCP proxy in the agent (like Docker's userland proxy), and names.

`bridge` is the default network (machine0, 172.30.0.0/16); user networks get their own bridge and a
/24 from 10.89.0.0/16, are isolated from each other by iptables, and give their members each other's
names and aliases (written into every member's /etc/hosts as membership changes). Other modes:
`none` (loopback only), `host` (no namespace), `container:ID` (join that container's namespace).
Addresses live in the container records, so an agent restart neither reuses nor loses them.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

from . import dns
from .errors import Conflict, EngineError, Exhausted, Forbidden, InvalidInput, NotFound, SystemFailure, Unsupported

log = logging.getLogger("guest.network")

DEFAULT = "bridge"
DEFAULT_BRIDGE = "machine0"
DEFAULT_SUBNET = "172.30.0.0/16"
USER_SUBNETS = ipaddress.ip_network("10.89.0.0/16")
HOST = "host"  # prepare()'s answer for --network host: no network namespace at all
BUILTIN = ("bridge", "host", "none")


def _ip(*args: str, batch: str | None = None, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    command = ["ip"] + (["-n", netns] if netns else []) + (["-batch", "-"] if batch is not None else list(args))
    return subprocess.run(command, input=batch, capture_output=True, text=True)


def _iptables(action: str, table: str, chain: str, *rule: str) -> None:
    """Ensure (action -A append, -I insert first) or remove (-D) an iptables rule."""
    present = subprocess.run(["iptables", "-t", table, "-C", chain, *rule], capture_output=True).returncode == 0
    if action == "-D" and present:
        subprocess.run(["iptables", "-t", table, "-D", chain, *rule], capture_output=True)
    elif action != "-D" and not present:
        subprocess.run(
            ["iptables", "-t", table, action, chain, *(["1"] if action == "-I" else []), *rule], capture_output=True
        )


class _Proxy:
    """Accepts on a host port and relays each connection to the container's address."""

    def __init__(self, host_ip: str, host_port: int, target: tuple[str, int]):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host_ip or "0.0.0.0", host_port))
        except OSError as e:
            self.sock.close()
            raise SystemFailure(
                f"driver failed programming external connectivity: Bind for "
                f"{host_ip or '0.0.0.0'}:{host_port} failed: port is already allocated ({e.strerror})",
            ) from None
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.target = target
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)

        def copy(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        other = threading.Thread(target=copy, args=(upstream, client), daemon=True)
        other.start()
        copy(client, upstream)
        other.join()
        client.close()
        upstream.close()

    def close(self) -> None:
        self.sock.close()


class _UdpProxy:
    """Relays datagrams between a host port and the container: one upstream socket per client address."""

    IDLE = 60.0

    def __init__(self, host_ip: str, host_port: int, target: tuple[str, int]):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host_ip or "0.0.0.0", host_port))
        except OSError as e:
            self.sock.close()
            raise SystemFailure(
                f"driver failed programming external connectivity: Bind for "
                f"{host_ip or '0.0.0.0'}:{host_port}/udp failed: port is already allocated "
                f"({e.strerror})",
            ) from None
        self.port = self.sock.getsockname()[1]
        self.target = target
        self._upstreams: dict[tuple[str, int], socket.socket] = {}
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, client = self.sock.recvfrom(65535)
            except OSError:
                return
            upstream = self._upstreams.get(client)
            if upstream is None:
                upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                upstream.connect(self.target)
                upstream.settimeout(self.IDLE)
                self._upstreams[client] = upstream
                threading.Thread(target=self._replies, args=(client, upstream), daemon=True).start()
            try:
                upstream.send(data)
            except OSError:
                pass

    def _replies(self, client: tuple[str, int], upstream: socket.socket) -> None:
        try:
            while True:
                self.sock.sendto(upstream.recv(65535), client)
        except OSError:  # idle for a minute, or closed
            pass
        finally:
            self._upstreams.pop(client, None)
            upstream.close()

    def close(self) -> None:
        self.sock.close()
        for upstream in list(self._upstreams.values()):
            upstream.close()


def _network_json(record: dict[str, Any], members: dict[str, Any]) -> dict[str, Any]:
    return {
        "Name": record["Name"],
        "Id": record["Id"],
        "Created": record["Created"],
        "Scope": "local",
        "Driver": record.get("Driver", "bridge"),
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [{"Subnet": record["Subnet"], "Gateway": record["Gateway"]}] if record.get("Subnet") else [],
        },
        "Internal": bool(record.get("Internal")),
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": members,
        "Options": {"com.docker.network.bridge.name": record["Bridge"]} if record.get("Bridge") else {},
        "Labels": record.get("Labels") or {},
    }


class Networks:
    def __init__(self, root: Path, containers: Callable[[], list[Any]] = list) -> None:
        self.root = root
        self._containers = containers  # every container, for the DNS server's answers
        self._dns: dict[str, dns.Server] = {}
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._proxies: dict[str, list[_Proxy | _UdpProxy]] = {}
        self._ready: set[str] = set()
        self._records: dict[str, dict[str, Any]] = {}
        for path in root.glob("*.json"):
            try:
                record = json.loads(path.read_text())
                self._records[record["Id"]] = record
            except (ValueError, KeyError):
                log.warning("ignoring unreadable network record %s", path)
        for name in BUILTIN:
            if not any(r["Name"] == name for r in self._records.values()):
                self._save(
                    {
                        "Name": name,
                        "Id": os.urandom(32).hex(),
                        "Created": _now(),
                        "Driver": {"bridge": "bridge", "host": "host", "none": "null"}[name],
                        "Bridge": DEFAULT_BRIDGE if name == "bridge" else "",
                        "Subnet": DEFAULT_SUBNET if name == "bridge" else "",
                        "Gateway": "172.30.0.1" if name == "bridge" else "",
                        "Builtin": True,
                    }
                )

    # -- records ----------------------------------------------------------------------------------
    def _save(self, record: dict[str, Any]) -> None:
        tmp = self.root / f"{record['Id']}.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.root / f"{record['Id']}.json")
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

    def inspect(self, record: dict[str, Any], containers: list[Any]) -> dict[str, Any]:
        members = {}
        for c in containers:
            endpoint = (c.data.get("NetworkSettings") or {}).get("Networks", {}).get(record["Name"])
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
        return _network_json(record, members)

    def create(self, name: str, labels: dict[str, str] | None, internal: bool, driver: str) -> dict[str, Any]:
        if not name:
            raise InvalidInput("network name is required")
        if driver not in ("", "bridge"):
            raise Unsupported(f"network driver {driver!r} is not supported (only bridge)")
        with self._lock:
            if any(r["Name"] == name for r in self._records.values()):
                raise Conflict(f"network with name {name} already exists")
            used = {r.get("Subnet") for r in self._records.values()}
            subnet = next(
                (
                    str(s)
                    for s in USER_SUBNETS.subnets(new_prefix=24)
                    if str(s) not in used and not str(s).endswith(".0.0/24")
                ),
                None,
            )
            if subnet is None:
                raise Conflict("no free subnet left for a new network: remove unused networks")
            net_id = os.urandom(32).hex()
            gateway = str(ipaddress.ip_network(subnet).network_address + 1)
            record = {
                "Name": name,
                "Id": net_id,
                "Created": _now(),
                "Driver": "bridge",
                "Bridge": f"mbr-{net_id[:10]}",
                "Subnet": subnet,
                "Gateway": gateway,
                "Labels": labels or {},
                "Internal": internal,
            }
            self._save(record)
            return record

    def remove(self, record: dict[str, Any], in_use: list[str]) -> None:
        if record.get("Builtin"):
            raise Forbidden(f"{record['Name']} is a pre-defined network and cannot be removed")
        if in_use:
            raise Forbidden(
                f"error while removing network: network {record['Name']} id {record['Id']} has active endpoints"
            )
        with self._lock:
            self._teardown_bridge(record)
            (self.root / f"{record['Id']}.json").unlink(missing_ok=True)
            self._records.pop(record["Id"], None)

    # -- host side ----------------------------------------------------------------------------------
    def _bridges(self) -> list[str]:
        return [r["Bridge"] for r in self._records.values() if r.get("Bridge")]

    def _setup_bridge(self, record: dict[str, Any]) -> None:
        bridge = record["Bridge"]
        if bridge in self._ready and os.path.exists(f"/sys/class/net/{bridge}"):
            return
        prefix = ipaddress.ip_network(record["Subnet"]).prefixlen
        if _ip("link", "show", bridge).returncode != 0:
            _ip("link", "add", bridge, "type", "bridge")
            _ip("addr", "add", f"{record['Gateway']}/{prefix}", "dev", bridge)
        _ip("link", "set", bridge, "up")
        try:
            Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        except OSError:
            log.warning("cannot enable IPv4 forwarding: containers will not reach the outside")
        if not record.get("Internal"):
            _iptables("-A", "nat", "POSTROUTING", "-s", record["Subnet"], "!", "-o", bridge, "-j", "MASQUERADE")
        _iptables("-A", "filter", "FORWARD", "-i", bridge, "-j", "ACCEPT")
        _iptables("-A", "filter", "FORWARD", "-o", bridge, "-j", "ACCEPT")
        for other in self._bridges():  # networks do not reach each other
            if other != bridge:
                _iptables("-I", "filter", "FORWARD", "-i", bridge, "-o", other, "-j", "DROP")
                _iptables("-I", "filter", "FORWARD", "-i", other, "-o", bridge, "-j", "DROP")
        if not record.get("Builtin") and bridge not in self._dns:
            try:
                self._dns[bridge] = dns.Server(record["Gateway"], self.resolve)
            except OSError as e:
                log.warning("no DNS for network %s (%s): names resolve only through /etc/hosts", record["Name"], e)
        self._ready.add(bridge)

    def _teardown_bridge(self, record: dict[str, Any]) -> None:
        bridge = record["Bridge"]
        server = self._dns.pop(bridge, None)
        if server is not None:
            server.close()
        _iptables("-D", "nat", "POSTROUTING", "-s", record["Subnet"], "!", "-o", bridge, "-j", "MASQUERADE")
        _iptables("-D", "filter", "FORWARD", "-i", bridge, "-j", "ACCEPT")
        _iptables("-D", "filter", "FORWARD", "-o", bridge, "-j", "ACCEPT")
        for other in self._bridges():
            _iptables("-D", "filter", "FORWARD", "-i", bridge, "-o", other, "-j", "DROP")
            _iptables("-D", "filter", "FORWARD", "-i", other, "-o", bridge, "-j", "DROP")
        _ip("link", "del", bridge)
        self._ready.discard(bridge)

    def teardown_host(self) -> None:
        """Remove every bridge and firewall rule of these networks (containers must be stopped)."""
        with self._lock:
            for record in self._records.values():
                if record.get("Bridge"):
                    self._teardown_bridge(record)

    # -- containers ---------------------------------------------------------------------------------
    @staticmethod
    def namespace(cid: str) -> str:
        return f"machine-{cid[:12]}"

    @staticmethod
    def primary(c: Any) -> str:
        mode = c.data["HostConfig"].get("NetworkMode") or "default"
        return DEFAULT if mode == "default" else mode

    def wanted(self, c: Any) -> list[str]:
        """The networks container `c` joins at start: its primary one, then the extra ones it was given."""
        names = [self.primary(c)]
        extra = (c.data.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
        names += [n for n in (DEFAULT if e == "default" else e for e in extra) if n not in names]
        names += [n for n in c.data.get("ExtraNetworks", []) if n not in names]
        return names

    def prepare(self, c: Any, used_ips: set[str], peer_netns: str | None) -> str | None:
        """Give container `c` its networks before it starts; returns the netns path (or HOST)."""
        mode = self.primary(c)
        if mode == "host":
            c.data["NetworkSettings"] = {"Networks": {"host": {}}, "Ports": {}}
            return HOST
        if mode.startswith("container:"):
            if not peer_netns:
                raise InvalidInput(f"cannot join the network of {mode[10:]}: it is not running")
            c.data["NetworkSettings"] = {"Networks": {}, "Ports": {}}
            return peer_netns
        records = [self.get(n) for n in self.wanted(c)]
        ns = self.namespace(c.id)
        self._delete_netns(c)
        c.data["NetworkSettings"] = {"Networks": {}, "Ports": {}, "SandboxKey": f"/run/netns/{ns}"}
        if mode == "none":
            if _ip("netns", "add", ns).returncode != 0:
                raise SystemFailure(f"creating the network namespace {ns} failed")
            _ip("link", "set", "lo", "up", netns=ns)
            c.data["NetworkSettings"]["Networks"] = {"none": {}}
            return f"/run/netns/{ns}"
        try:
            for index, record in enumerate(records):  # the first one also creates the namespace: fewer ip runs
                self.connect(c, record, used_ips, default_route=index == 0, new_namespace=index == 0)
            self.publish(c)
        except EngineError:
            self.release(c)
            raise
        return f"/run/netns/{ns}"

    def connect(
        self,
        c: Any,
        record: dict[str, Any],
        used_ips: set[str],
        default_route: bool = False,
        aliases: list[str] | None = None,
        new_namespace: bool = False,
    ) -> None:
        """One more interface (eth0, eth1, ...) in the container's namespace, on network `record`."""
        if record.get("Builtin") and record["Name"] != DEFAULT:
            raise InvalidInput(f"container cannot be connected to network {record['Name']}")
        settings = c.data["NetworkSettings"]
        if record["Name"] in settings["Networks"]:
            raise Conflict(f"endpoint with name {c.name} already exists in network {record['Name']}")
        with self._lock:
            self._setup_bridge(record)
            subnet = ipaddress.ip_network(record["Subnet"])
            previous = (c.data.get("Addresses") or {}).get(record["Name"])
            taken = used_ips | {e.get("IPAddress") for e in settings["Networks"].values()}
            address = previous if previous and previous not in taken else self._next_address(record, taken)
            index = len([n for n in settings["Networks"].values() if n.get("IPAddress")])
            iface, veth, ns = f"eth{index}", f"v{index}{c.id[:11]}", self.namespace(c.id)
            if os.path.exists(f"/sys/class/net/{veth}"):
                _ip("link", "del", veth)
            mac = "02:42:" + ":".join(f"{int(octet):02x}" for octet in address.split("."))  # as Docker derives it
            host_side = _ip(
                batch=(f"netns add {ns}\n" if new_namespace else "")
                + f"link add {veth} type veth peer name {iface} address {mac} netns {ns}\n"
                f"link set {veth} master {record['Bridge']} up\n"
            )
            routes = f"route add default via {record['Gateway']}\n" if default_route else ""
            inside = _ip(
                batch=("link set lo up\n" if new_namespace else "")
                + f"addr add {address}/{subnet.prefixlen} dev {iface}\nlink set {iface} up\n{routes}",
                netns=ns,
            )
            if host_side.returncode != 0 or inside.returncode != 0:
                raise SystemFailure(
                    f"connecting to network {record['Name']} failed: {(host_side.stderr or inside.stderr).strip()}"
                )
            if _in_arp_cache(address):
                _ip("neigh", "flush", "to", address, "dev", record["Bridge"])  # forget an earlier owner's MAC
        endpoint_aliases = (
            aliases
            if aliases is not None
            else (((c.data.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).get(record["Name"]) or {}).get(
                "Aliases"
            )
            or []
        )
        endpoint = {
            "IPAddress": address,
            "IPPrefixLen": subnet.prefixlen,
            "Gateway": record["Gateway"],
            "MacAddress": mac,
            "NetworkID": record["Id"],
            "EndpointID": os.urandom(32).hex(),
            "Aliases": list(endpoint_aliases) or None,
            "Interface": iface,
            "Veth": veth,
        }
        settings["Networks"][record["Name"]] = endpoint
        c.data.setdefault("Addresses", {})[record["Name"]] = address
        if default_route:
            settings.update({k: endpoint[k] for k in ("IPAddress", "IPPrefixLen", "Gateway", "MacAddress")})

    def _next_address(self, record: dict[str, Any], taken: set[str]) -> str:
        """The next free address after the last one handed out (not the lowest: peers may still cache its MAC)."""
        subnet = ipaddress.ip_network(record["Subnet"])
        first, size = int(subnet.network_address) + 1, subnet.num_addresses - 2  # no network, no broadcast
        last = record.get("LastAddress")
        # a fresh network starts at a random place: another agent sharing this host's bridge rarely collides
        offset = int(ipaddress.ip_address(last)) - first + 1 if last else int.from_bytes(os.urandom(2), "big") % size
        for step in range(size):
            candidate = str(ipaddress.ip_address(first + (offset + step) % size))
            if candidate != record["Gateway"] and candidate not in taken:
                record["LastAddress"] = candidate
                self._save(record)
                return candidate
        raise Exhausted(f"network {record['Name']} has no free address left")

    def disconnect(self, c: Any, record: dict[str, Any]) -> None:
        endpoint = (c.data.get("NetworkSettings") or {}).get("Networks", {}).pop(record["Name"], None)
        if endpoint is None:
            raise Conflict(f"container {c.id[:12]} is not connected to network {record['Name']}")
        if endpoint.get("Veth"):
            _ip("link", "del", endpoint["Veth"])

    def publish(self, c: Any) -> None:
        """Open the container's published ports (also after an agent restart)."""
        settings = c.data.get("NetworkSettings") or {}
        address = settings.get("IPAddress")
        bindings = dict(c.data["HostConfig"].get("PortBindings") or {})
        if c.data["HostConfig"].get("PublishAllPorts"):
            for port in c.data["Config"].get("ExposedPorts") or {}:
                bindings.setdefault(port, [{"HostIp": "", "HostPort": ""}])
        ports: dict[str, Any] = {p: None for p in c.data["Config"].get("ExposedPorts") or {}}
        proxies = []
        try:
            for key, entries in bindings.items():
                port, _, proto = key.partition("/")
                if (proto or "tcp") not in ("tcp", "udp"):
                    raise Unsupported(f"publishing {key}: only tcp and udp ports can be published")
                proxy_class = _UdpProxy if proto == "udp" else _Proxy
                name = key if "/" in key else f"{key}/tcp"
                ports[name] = []
                for entry in entries or [{}]:
                    if not address:
                        raise InvalidInput("ports can only be published on a bridge network")
                    proxy = proxy_class(
                        entry.get("HostIp") or "", int(entry.get("HostPort") or 0), (address, int(port))
                    )
                    proxies.append(proxy)
                    ports[name].append({"HostIp": entry.get("HostIp") or "0.0.0.0", "HostPort": str(proxy.port)})
        except (EngineError, ValueError):
            for proxy in proxies:
                proxy.close()
            raise
        with self._lock:
            for old in self._proxies.pop(c.id, []):
                old.close()
            self._proxies[c.id] = proxies
        settings["Ports"] = ports
        c.data["NetworkSettings"] = settings

    def _delete_netns(self, c: Any) -> None:
        # the veths explicitly, at once: the namespace's own teardown is asynchronous
        commands = [
            f"link del {e['Veth']}"
            for e in ((c.data.get("NetworkSettings") or {}).get("Networks") or {}).values()
            if e.get("Veth") and os.path.exists(f"/sys/class/net/{e['Veth']}")
        ]
        ns = self.namespace(c.id)
        if os.path.exists(f"/run/netns/{ns}"):
            commands.append(f"netns del {ns}")
        if commands:
            _ip(batch="\n".join(commands) + "\n")

    def release(self, c: Any) -> None:
        """Undo prepare(): close the ports, delete the namespace and its interfaces."""
        with self._lock:
            for proxy in self._proxies.pop(c.id, []):
                proxy.close()
        self._delete_netns(c)
        settings = c.data.get("NetworkSettings") or {}
        settings.update(Ports={}, SandboxKey="", Networks={}, IPAddress="", Gateway="", MacAddress="")

    def resolve(self, querier: str, name: str) -> str | None:
        """The address of container `name` (name, short ID or alias, optionally `.network`) on a user network
        that the querying container (known by its address) is on too."""
        containers = self._containers()  # also those still starting: their endpoints exist before they run

        def networks_of(c: Any) -> dict[str, Any]:
            return {
                n: e
                for n, e in ((c.data.get("NetworkSettings") or {}).get("Networks") or {}).items()
                if n not in BUILTIN and e.get("IPAddress")
            }

        asker = next((c for c in containers if any(e["IPAddress"] == querier for e in networks_of(c).values())), None)
        if asker is None:
            return None
        for network in networks_of(asker):
            short = name[: -len(network) - 1] if name.endswith(f".{network}") else name
            for other in containers:
                endpoint = networks_of(other).get(network)
                if endpoint and short in (other.name, other.id[:12], *(endpoint.get("Aliases") or [])):
                    return str(endpoint["IPAddress"])
        return None

    def nameserver(self, c: Any) -> str | None:
        """The DNS server for container `c`: its first user network's gateway (None on builtin networks)."""
        for name in (c.data.get("NetworkSettings") or {}).get("Networks") or {}:
            record = next((r for r in self.all() if r["Name"] == name), None)
            if record and not record.get("Builtin") and record.get("Bridge") in self._dns:
                return str(record["Gateway"])
        return None

    def peers(self, c: Any, containers: list[Any]) -> list[tuple[str, list[str]]]:
        """(address, names) for /etc/hosts: linked containers (names on user networks come from DNS)."""
        entries = []
        for link in c.data["HostConfig"].get("Links") or []:
            target, _, alias = link.partition(":")
            for other in containers:
                if (
                    other.running
                    and other.name == target.lstrip("/")
                    and other.data["NetworkSettings"].get("IPAddress")
                ):
                    entries.append(
                        (
                            other.data["NetworkSettings"]["IPAddress"],
                            [alias.rsplit("/", 1)[-1] or other.name, other.name],
                        )
                    )
        return entries


def _in_arp_cache(address: str) -> bool:
    try:
        with open("/proc/net/arp") as f:
            return any(line.split()[0] == address for line in f.readlines()[1:])
    except OSError:
        return True


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
