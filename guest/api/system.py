"""System endpoints: /_ping, /version, /info, /events."""

from __future__ import annotations

import logging
import os
import platform
from typing import Any

from .. import __version__
from ..containers import cgroups
from ..engine import Engine
from ..errors import InvalidInput
from . import filters as flt
from . import shapes, swarm
from .http.request import Request
from .http.responses import Response, json_response, json_stream
from .http.router import Router
from .http.versions import API_VERSION, MIN_API_VERSION


def _nanos(value: str | None) -> int | None:
    """A `since`/`until` value (unix seconds, possibly fractional) in nanoseconds."""
    if not value:
        return None
    try:
        return int(float(value) * 1_000_000_000)
    except ValueError:
        raise InvalidInput(f"invalid timestamp {value!r}") from None


def register(router: Router, engine: Engine) -> None:
    @router.route("POST", "/auth", body=shapes.AUTH)
    def auth(req: Request) -> Response:
        body = req.json({}) or {}
        if not isinstance(body, dict):
            raise InvalidInput("invalid auth request: expected a JSON object")
        from ..images import registry  # the registry client (ssl, http) is imported at the first login

        registry.login(body.get("serveraddress") or "docker.io", body, engine.insecure_registries)
        return json_response({"Status": "Login Succeeded", "IdentityToken": ""})

    @router.route("GET", "/version")
    def version(req: Request) -> Response:
        uname = platform.uname()
        details = {
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux",
            "Arch": _arch(),
            "KernelVersion": uname.release,
            "Experimental": "false",
        }
        return json_response(
            {
                "Platform": {"Name": "machine agent"},
                "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
                "Version": __version__,
                "ApiVersion": API_VERSION,
                "MinAPIVersion": MIN_API_VERSION,
                "GoVersion": "python" + platform.python_version(),
                "Os": "linux",
                "Arch": _arch(),
                "KernelVersion": uname.release,
            }
        )

    @router.route("GET", "/events", query=shapes.EVENTS_QUERY)
    def events(req: Request) -> Response:
        since = _nanos(req.arg("since"))
        until = _nanos(req.arg("until"))
        filters = flt.of(req)

        def wanted(event: dict[str, Any]) -> bool:
            for key, values in filters.items():
                if key == "type" and event["Type"] not in values:
                    return False
                if key == "event" and event["Action"] not in values:
                    return False
                if key in ("container", "image", "volume", "network") and event["Type"] == key:
                    actor = event["Actor"]
                    if actor["ID"] not in values and actor["Attributes"].get("name") not in values:
                        return False
            return True

        return json_stream(e for e in engine.events.subscribe(since, until) if e is None or wanted(e))

    @router.route("GET", "/info")
    def info(req: Request) -> Response:
        containers = engine.containers.all()
        running = sum(c.state["Status"] == "running" for c in containers)
        paused = sum(c.state["Status"] == "paused" for c in containers)
        return json_response(
            {
                "Name": platform.node(),
                "ServerVersion": __version__,
                "OperatingSystem": _os_name(),
                "OSType": "linux",
                "Architecture": platform.machine(),
                "KernelVersion": platform.release(),
                "NCPU": os.cpu_count() or 1,
                "MemTotal": _mem_total(),
                "DockerRootDir": str(engine.root),
                "Driver": "overlay2",
                "Images": len(engine.images.all()),
                "Containers": len(containers),
                "ContainersRunning": running,
                "ContainersPaused": paused,
                "ContainersStopped": len(containers) - running - paused,
                "Debug": logging.getLogger("guest").isEnabledFor(
                    logging.DEBUG
                ),  # the agent runs with --log-level debug
                "ExperimentalBuild": False,
                "SecurityOptions": ["name=seccomp,profile=builtin"],
                "Swarm": swarm.INACTIVE,
                **_cgroup_info(),
                "Warnings": [],
            }
        )


def _cgroup_info() -> dict[str, Any]:
    """What `docker info` tells of the limits containers can be given here."""
    host = cgroups.host()
    return {
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if host.v2 else "1",
        "MemoryLimit": "memory" in host.controllers,
        "SwapLimit": host.swap,
        "KernelMemory": False,
        "OomKillDisable": "memory" in host.controllers and not host.v2,
        "CpuCfsPeriod": "cpu" in host.controllers,
        "CpuCfsQuota": "cpu" in host.controllers,
        "CPUShares": "cpu" in host.controllers,
        "CPUSet": "cpuset" in host.controllers,
        "PidsLimit": "pids" in host.controllers,
    }


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
