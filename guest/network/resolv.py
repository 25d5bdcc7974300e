"""Name servers: the host's (forwarded to by the embedded DNS server) and a container's /etc/resolv.conf."""

from __future__ import annotations

from pathlib import Path


def _host_lines() -> list[str] | None:
    try:
        return Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return None


def host_nameservers() -> list[str]:
    """The host's IPv4 name servers."""
    lines = _host_lines() or []
    servers = [line.split()[1] for line in lines if line.startswith("nameserver") and len(line.split()) > 1]
    return [s for s in servers if ":" not in s]


def container_resolv_conf(servers: list[str], embedded: str | None) -> str:
    """--dns servers if given, else the network's embedded DNS server, else the host's file without loopback
    name servers (which the container cannot reach), with public ones if none is left."""
    if servers:
        return "".join(f"nameserver {d}\n" for d in servers)
    if embedded:  # user networks: the agent's DNS server knows the other containers by name
        return f"nameserver {embedded}\noptions ndots:0\n"
    lines = _host_lines()
    if lines is None:
        return "nameserver 8.8.8.8\n"
    kept = [
        line
        for line in lines
        if not (line.startswith("nameserver") and (line.split()[1:2] or [""])[0].startswith("127."))
    ]
    if not any(line.startswith("nameserver") for line in kept):
        kept += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(kept) + "\n"
