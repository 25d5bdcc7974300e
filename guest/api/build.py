"""POST /build: the legacy builder (docker build with DOCKER_BUILDKIT=0, docker-py's images.build)."""

from __future__ import annotations

import base64
import functools
import json
from typing import TYPE_CHECKING, Any, Callable

from ..builds.stage import Options
from ..containers import resources
from ..engine import Engine
from ..errors import InvalidInput, Unsupported
from ..images.reference import Reference
from . import shapes
from .http.request import Request
from .http.responses import Response, json_response, progress_stream
from .http.router import Router

if TYPE_CHECKING:
    from ..builds.builder import Builder


def _registry_auth(header: str | None) -> dict[str, str]:
    """The first credentials of X-Registry-Config (base64 JSON: registry -> {username, password})."""
    if not header:
        return {}
    try:
        configs = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        raise InvalidInput("invalid X-Registry-Config header") from None
    return (
        next((c for c in configs.values() if isinstance(c, dict) and c.get("username")), {})
        if isinstance(configs, dict)
        else {}
    )


def _resources(req: Request) -> dict[str, Any]:
    """The limits of the RUN steps' containers (--memory, --cpu-shares, --ulimit...), as HostConfig fields."""
    numbers = {
        "Memory": "memory",
        "MemorySwap": "memswap",
        "CpuShares": "cpushares",
        "CpuPeriod": "cpuperiod",
        "CpuQuota": "cpuquota",
        "ShmSize": "shmsize",
    }
    found: dict[str, Any] = {field: req.int_arg(name) for field, name in numbers.items() if req.int_arg(name)}
    for field, name in (("CpusetCpus", "cpusetcpus"), ("CpusetMems", "cpusetmems")):
        if req.arg(name):
            found[field] = req.arg(name)
    if req.json_arg("ulimits", []):
        found["Ulimits"] = req.json_arg("ulimits", [])
    return found


def register(router: Router, engine: Engine) -> None:
    @functools.cache
    def builder() -> Builder:
        """The builder, made (and its modules imported: the registry client, tar streaming) at the first use."""
        from ..builds.builder import Builder

        return Builder(engine)

    @router.route("POST", "/build", query=shapes.BUILD_QUERY)
    def build(req: Request) -> Response:
        if req.json_arg("cachefrom", []):
            raise Unsupported("cachefrom is not supported by this engine: build without --cache-from")
        network_mode = req.arg("networkmode") or "default"
        if network_mode not in ("default", "bridge", "host", "none"):
            if network_mode.startswith("container:"):
                raise InvalidInput(f"network mode {network_mode} is not supported for builds")
            engine.containers.networks.get(network_mode)  # 404 for an unknown network, before the build starts
        options = Options(
            dockerfile=(req.args("dockerfile") or ["Dockerfile"])[0] or "Dockerfile",  # dockerd takes the first
            tags=req.args("t"),
            target=req.arg("target") or "",
            nocache=req.bool_arg("nocache"),
            pull=req.bool_arg("pull"),
            quiet=req.bool_arg("q"),
            buildargs={k: v for k, v in (req.json_arg("buildargs", {}) or {}).items() if v is not None},
            labels=req.json_arg("labels", {}) or {},
            auth=_registry_auth(req.headers.get("X-Registry-Config")),
            extra_hosts=[h for value in req.args("extrahosts") for h in value.split(",") if h],
            network_mode=network_mode,
            resources=_resources(req),
        )
        for tag in options.tags:
            Reference.parse(tag)  # a bad name is a 400 now, not the end of a whole build
        resources.of(options.resources, resources.facts())  # limits this host cannot honour: a 400 now too
        context = req.stream()

        def work(progress: Callable[[dict[str, Any]], None]) -> None:
            image_id = builder().build(context, options, progress)
            if options.quiet:
                progress({"stream": image_id + "\n"})
            engine.events.emit("image", "build", image_id, {})

        return progress_stream(work, options.cancelled)

    @router.route("POST", "/build/prune", query={"filters": shapes.FILTERS, "keep-storage": shapes.INTEGER})
    def prune(req: Request) -> Response:
        deleted, reclaimed = builder().cache.prune(engine.containers.image_users)
        return json_response({"CachesDeleted": deleted or None, "SpaceReclaimed": reclaimed})
