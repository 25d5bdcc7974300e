"""Containers as the API shows them: `docker ps` rows and `docker inspect` documents."""

from __future__ import annotations

import time
from typing import Any

from .. import times
from ..containers import healthcheck, rootfs
from ..containers.config import command
from ..containers.record import ZERO_TIME, Container
from ..images.store import ImageStore
from ..network import endpoints
from ..network.networks import wanted
from ..network.ports import valid as valid_port
from ..network.ports import valid_host_port


def human_duration(seconds: float) -> str:
    """Docker's units.HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def _unix(rfc3339: str) -> float:
    return times.parse(rfc3339) if rfc3339 != ZERO_TIME else 0.0


def status_text(c: Container) -> str:
    state = c.state
    if state["Status"] in ("running", "paused"):
        text = f"Up {human_duration(time.time() - _unix(state['StartedAt']))}"
        return text + " (Paused)" if state.get("Paused") else text + healthcheck.suffix(c)
    if state["Status"] == "restarting":
        return f"Restarting ({state['ExitCode']}) {human_duration(time.time() - _unix(state['FinishedAt']))} ago"
    if state["Status"] == "exited":
        if state["FinishedAt"] == ZERO_TIME:
            return "Created"
        return f"Exited ({state['ExitCode']}) {human_duration(time.time() - _unix(state['FinishedAt']))} ago"
    return str(state["Status"]).capitalize()


def _ports(c: Container) -> list[dict[str, Any]]:
    ports = c.data.get("NetworkSettings", {}).get("Ports") or {}
    rows = []
    for key, bindings in ports.items():
        if not valid_port(key):  # from an image stored before ports were checked: not shown, never an error
            continue
        port, _, proto = key.partition("/")
        for b in bindings or [{}]:
            row = {"PrivatePort": int(port), "Type": proto or "tcp"}
            if valid_host_port(str(b.get("HostPort") or "")) and b.get("HostPort"):
                row.update(IP=b.get("HostIp") or "0.0.0.0", PublicPort=int(b["HostPort"]))
            rows.append(row)
    return rows


def sizes(images: ImageStore, c: Container) -> dict[str, int]:
    """SizeRw (what the container wrote) and SizeRootFs (that and its image's layers), as Docker counts them."""
    written = rootfs.size_rw(c)
    image = images.get(c.data["Image"]).size if images.exists(c.data["Image"]) else 0
    return {"SizeRw": written, "SizeRootFs": image + written}


def summary(c: Container, sizes: dict[str, int] | None = None) -> dict[str, Any]:
    """A `docker ps` row (with SizeRw and SizeRootFs when `sizes` are given)."""
    config = c.data["Config"]
    return {
        "Id": c.id,
        "Names": [c.data["Name"]],
        "Image": config.get("Image", ""),
        "ImageID": c.data["Image"],
        "Command": " ".join(command(config)),
        "Created": int(_unix(c.data["Created"])),
        "Ports": _ports(c),
        "Labels": config.get("Labels") or {},
        "State": c.state["Status"],
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.data["HostConfig"].get("NetworkMode", "default")},
        "NetworkSettings": {"Networks": _networks(c)},
        "Mounts": [_mount_json(m) for m in c.data["Mounts"]],
        **(sizes or {}),
    }


def _networks(c: Container) -> dict[str, Any]:
    """The endpoint settings by network: the live ones while running, else those of the networks it joins."""
    if c.running:
        return {name: endpoints.shown(c, name, live) for name, live in c.networks.items()}
    return {name: endpoints.shown(c, name, None) for name in wanted(c) if not name.startswith("container:")}


def _mount_json(m: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if k not in ("Anonymous", "Populated", "Subpath")}


def inspect(c: Container, links: list[str] | None, sizes: dict[str, int] | None = None) -> dict[str, Any]:
    """The `docker inspect` document (with SizeRw and SizeRootFs when `sizes` are given)."""
    d = c.data
    network = d.get("NetworkSettings") or {}
    return {
        "Id": c.id,
        "Created": d["Created"],
        "Path": d["Path"],
        "Args": d["Args"],
        "State": {**c.state, "Status": c.state["Status"]},
        "Image": d["Image"],
        "ResolvConfPath": str(c.path / "resolv.conf"),
        "HostnamePath": str(c.path / "hostname"),
        "HostsPath": str(c.path / "hosts"),
        "LogPath": str(c.log_path),
        "Name": d["Name"],
        "RestartCount": d["RestartCount"],
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": {**d["HostConfig"], "Links": links},
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {"UpperDir": str(c.path / "upper"), "WorkDir": str(c.path / "work"), "MergedDir": str(c.rootfs)},
        },
        "Mounts": [_mount_json(m) for m in d["Mounts"]],
        "Config": d["Config"],
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": network.get("Ports") or {},
            "SandboxKey": network.get("SandboxKey", ""),
            "IPAddress": network.get("IPAddress", ""),
            "Gateway": network.get("Gateway", ""),
            "MacAddress": network.get("MacAddress", ""),
            "IPPrefixLen": network.get("IPPrefixLen", 0),
            "Networks": _networks(c),
        },
        **(sizes or {}),
    }
