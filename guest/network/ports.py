"""A container's published ports: its port bindings (and -P's exposed ports) opened as proxies on the host."""

from __future__ import annotations

import re
from typing import Any, Union

from ..errors import EngineError, Unsupported
from .member import Member
from .proxy import TcpProxy, UdpProxy

Proxy = Union[TcpProxy, UdpProxy]

_SPEC = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?")


def valid_host_port(text: str) -> bool:
    """Whether `text` is a host port to publish on: empty (any free one) or a number up to 65535."""
    return text == "" or (text.isdigit() and len(text) <= 5 and int(text) <= 65535)


def valid(spec: str) -> bool:
    """Whether `spec` is a container port as the API keys it: `80` or `80/tcp` (udp, sctp)."""
    found = _SPEC.fullmatch(spec)
    return found is not None and found.group(2) is None and 0 < int(found.group(1)) <= 65535


def expand(spec: str) -> list[str]:
    """An EXPOSE argument (`80`, `53/udp`, `8000-8002/tcp`) as `port/proto` keys; ValueError for anything else."""
    found = _SPEC.fullmatch(spec)
    if not found:
        raise ValueError(f"invalid port {spec!r}: expected PORT[/PROTOCOL] or FROM-TO[/PROTOCOL]")
    first, last = int(found.group(1)), int(found.group(2) or found.group(1))
    if not 0 < first <= last <= 65535:
        raise ValueError(f"invalid port range {spec!r}: ports go from 1 to 65535")
    return [f"{port}/{found.group(3) or 'tcp'}" for port in range(first, last + 1)]


def bindings(c: Member) -> dict[str, Any]:
    """`port/proto` -> [{HostIp, HostPort}]: the -p bindings, and with -P every exposed port on a random one."""
    wanted = dict(c.data["HostConfig"].get("PortBindings") or {})
    if c.data["HostConfig"].get("PublishAllPorts"):
        for port in c.data["Config"].get("ExposedPorts") or {}:
            wanted.setdefault(port, [{"HostIp": "", "HostPort": ""}])
    return wanted


def open_all(c: Member, address: str) -> tuple[dict[str, Any], list[Proxy]]:
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
                proxy = proxy_class(entry.get("HostIp") or "", int(entry.get("HostPort") or 0), (address, int(port)))
                proxies.append(proxy)
                ports[name].append({"HostIp": entry.get("HostIp") or "0.0.0.0", "HostPort": str(proxy.port)})
    except (EngineError, ValueError):
        for proxy in proxies:
            proxy.close()
        raise
    return ports, proxies
