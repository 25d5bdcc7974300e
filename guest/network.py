"""The default bridge network: a Linux bridge with NAT, one network namespace and veth pair per container,
and published ports served by a small TCP proxy in the agent (like Docker's userland proxy).

Modes: `bridge`/`default` (this network), `none` (a namespace with only loopback), `host` (no namespace),
`container:ID` (join that container's namespace). Addresses are kept in the container records, so an
agent restart neither reuses nor loses them; it rebuilds the proxies of the running containers.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any, Optional

from .http import ApiError, bad_request

log = logging.getLogger("guest.network")

BRIDGE = "machine0"
SUBNET = ipaddress.ip_network("172.30.0.0/16")
GATEWAY = str(SUBNET.network_address + 1)
HOST = "host"  # prepare()'s answer for --network host: no network namespace at all


def _ip(*args: str, batch: Optional[str] = None, netns: Optional[str] = None) -> subprocess.CompletedProcess[str]:
    command = ["ip"] + (["-n", netns] if netns else []) + (["-batch", "-"] if batch is not None else list(args))
    return subprocess.run(command, input=batch, capture_output=True, text=True)


def _iptables(*rule: str) -> None:
    """Add an iptables rule unless it is there."""
    if subprocess.run(["iptables", "-C", *rule], capture_output=True).returncode != 0:
        subprocess.run(["iptables", "-A", *rule], capture_output=True)


class _Proxy:
    """Accepts on a host port and relays each connection to the container's address."""

    def __init__(self, host_ip: str, host_port: int, target: tuple[str, int]):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host_ip or "0.0.0.0", host_port))
        except OSError as e:
            self.sock.close()
            raise ApiError(500, f"driver failed programming external connectivity: Bind for "
                                f"{host_ip or '0.0.0.0'}:{host_port} failed: port is already allocated ({e.strerror})") \
                from None
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


class Networks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proxies: dict[str, list[_Proxy]] = {}
        self._host_ready = False

    def _setup_host(self) -> None:
        if self._host_ready:
            return
        if _ip("link", "show", BRIDGE).returncode != 0:
            _ip("link", "add", BRIDGE, "type", "bridge")
            _ip("addr", "add", f"{GATEWAY}/{SUBNET.prefixlen}", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        try:
            Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        except OSError:
            log.warning("cannot enable IPv4 forwarding: containers will not reach the outside")
        _iptables("-t", "nat", "POSTROUTING", "-s", str(SUBNET), "!", "-o", BRIDGE, "-j", "MASQUERADE")
        _iptables("FORWARD", "-i", BRIDGE, "-j", "ACCEPT")
        _iptables("FORWARD", "-o", BRIDGE, "-j", "ACCEPT")
        self._host_ready = True

    @staticmethod
    def namespace(cid: str) -> str:
        return f"machine-{cid[:12]}"

    def prepare(self, c: Any, used_ips: set[str], peer_netns: Optional[str]) -> Optional[str]:
        """Give container `c` its network before it starts; returns the netns path (or HOST)."""
        mode = c.data["HostConfig"].get("NetworkMode") or "default"
        if mode == "host":
            c.data["NetworkSettings"] = {"Networks": {"host": {}}, "Ports": {}}
            return HOST
        if mode.startswith("container:"):
            if not peer_netns:
                raise bad_request(f"cannot join the network of {mode[10:]}: it is not running")
            c.data["NetworkSettings"] = {"Networks": {}, "Ports": {}}
            return peer_netns
        if mode not in ("default", "bridge", "none"):
            raise bad_request(f"network {mode} not found (only bridge, none, host and container:ID exist)")
        ns = self.namespace(c.id)
        _ip("netns", "del", ns)
        if mode == "none":
            result = _ip("netns", "add", ns)
            if result.returncode == 0:
                _ip("link", "set", "lo", "up", netns=ns)
            c.data["NetworkSettings"] = {"Networks": {"none": {}}, "Ports": {}, "SandboxKey": f"/run/netns/{ns}"}
            return f"/run/netns/{ns}"
        with self._lock:
            self._setup_host()
            address = c.data.get("NetworkSettings", {}).get("IPAddress")
            if not address or address in used_ips:
                address = next(str(ip) for ip in SUBNET.hosts() if str(ip) != GATEWAY and str(ip) not in used_ips)
            veth = f"vm{c.id[:10]}"
            _ip("link", "del", veth)
            host_side = _ip(batch=f"netns add {ns}\nlink add {veth} type veth peer name eth0 netns {ns}\n"
                                  f"link set {veth} master {BRIDGE} up\n")
            inside = _ip(batch=f"link set lo up\naddr add {address}/{SUBNET.prefixlen} dev eth0\nlink set eth0 up\n"
                               f"route add default via {GATEWAY}\n", netns=ns)
            if host_side.returncode != 0 or inside.returncode != 0:
                self.release(c)
                raise ApiError(500, f"setting up the container's network failed: "
                                    f"{(host_side.stderr or inside.stderr).strip()}")
            mac = _ip("link", "show", "eth0", netns=ns).stdout.split("link/ether ")[-1].split(" ")[0]
        settings = {"IPAddress": address, "IPPrefixLen": SUBNET.prefixlen, "Gateway": GATEWAY, "MacAddress": mac,
                    "SandboxKey": f"/run/netns/{ns}"}
        c.data["NetworkSettings"] = {**settings, "Ports": {}, "Networks": {"bridge": {
            **settings, "NetworkID": "bridge", "EndpointID": c.id[:12], "Aliases": None}}}
        try:
            self.publish(c)
        except ApiError:
            self.release(c)
            raise
        return f"/run/netns/{ns}"

    def publish(self, c: Any) -> None:
        """Open the container's published ports (also after an agent restart)."""
        settings = c.data.get("NetworkSettings") or {}
        address = settings.get("IPAddress")
        bindings = c.data["HostConfig"].get("PortBindings") or {}
        if c.data["HostConfig"].get("PublishAllPorts"):
            for port in c.data["Config"].get("ExposedPorts") or {}:
                bindings.setdefault(port, [{"HostIp": "", "HostPort": ""}])
        ports: dict[str, Any] = {p: None for p in c.data["Config"].get("ExposedPorts") or {}}
        proxies = []
        try:
            for key, entries in bindings.items():
                port, _, proto = key.partition("/")
                if (proto or "tcp") != "tcp":
                    raise bad_request(f"publishing {key}: only tcp ports can be published")
                ports[key if "/" in key else f"{key}/tcp"] = []
                for entry in entries or [{}]:
                    if not address:
                        raise bad_request("ports can only be published on the bridge network")
                    host_port = int(entry.get("HostPort") or 0)
                    proxy = _Proxy(entry.get("HostIp") or "", host_port, (address, int(port)))
                    proxies.append(proxy)
                    ports[key if "/" in key else f"{key}/tcp"].append(
                        {"HostIp": entry.get("HostIp") or "0.0.0.0", "HostPort": str(proxy.port)})
        except (ApiError, ValueError):
            for proxy in proxies:
                proxy.close()
            raise
        with self._lock:
            for old in self._proxies.pop(c.id, []):
                old.close()
            self._proxies[c.id] = proxies
        settings["Ports"] = ports
        c.data["NetworkSettings"] = settings

    def release(self, c: Any) -> None:
        """Undo prepare(): close the ports, delete the namespace (its veth goes with it)."""
        with self._lock:
            for proxy in self._proxies.pop(c.id, []):
                proxy.close()
        ns = self.namespace(c.id)
        if os.path.exists(f"/run/netns/{ns}"):
            _ip("link", "del", f"vm{c.id[:10]}")  # at once: the namespace's own teardown is asynchronous
            _ip("netns", "del", ns)
        settings = c.data.get("NetworkSettings") or {}
        settings["Ports"] = {}
        settings["SandboxKey"] = ""
