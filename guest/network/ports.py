"""A container's published ports: its port bindings (and -P's exposed ports) opened as proxies on the host."""

from __future__ import annotations

from typing import Any, Union

from ..errors import EngineError, InvalidInput, Unsupported
from .member import Member
from .proxy import TcpProxy, UdpProxy

Proxy = Union[TcpProxy, UdpProxy]


def bindings(c: Member) -> dict[str, Any]:
    """`port/proto` -> [{HostIp, HostPort}]: the -p bindings, and with -P every exposed port on a random one."""
    wanted = dict(c.data["HostConfig"].get("PortBindings") or {})
    if c.data["HostConfig"].get("PublishAllPorts"):
        for port in c.data["Config"].get("ExposedPorts") or {}:
            wanted.setdefault(port, [{"HostIp": "", "HostPort": ""}])
    return wanted


def open_all(c: Member, address: str | None) -> tuple[dict[str, Any], list[Proxy]]:
    """Open a proxy to `address` for each binding; (NetworkSettings.Ports, the proxies). All or none."""
    ports: dict[str, Any] = {p: None for p in c.data["Config"].get("ExposedPorts") or {}}
    proxies: list[Proxy] = []
    try:
        for key, entries in bindings(c).items():
            port, _, proto = key.partition("/")
            if (proto or "tcp") not in ("tcp", "udp"):
                raise Unsupported(f"publishing {key}: only tcp and udp ports can be published")
            proxy_class = UdpProxy if proto == "udp" else TcpProxy
            name = key if "/" in key else f"{key}/tcp"
            ports[name] = []
            for entry in entries or [{}]:
                if not address:
                    raise InvalidInput("ports can only be published on a bridge network")
                proxy = proxy_class(entry.get("HostIp") or "", int(entry.get("HostPort") or 0), (address, int(port)))
                proxies.append(proxy)
                ports[name].append({"HostIp": entry.get("HostIp") or "0.0.0.0", "HostPort": str(proxy.port)})
    except (EngineError, ValueError):
        for proxy in proxies:
            proxy.close()
        raise
    return ports, proxies
