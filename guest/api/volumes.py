"""Volume endpoints: list, create, inspect, remove, prune."""

from __future__ import annotations

from typing import Any, Callable

from ..engine import Engine
from ..errors import InvalidInput
from . import filters as flt
from . import shapes
from .http.request import Request
from .http.responses import Response, json_response, no_content
from .http.router import Router


def _matches(volume: dict[str, Any], f: dict[str, list[str]], users: Callable[[str], list[str]]) -> bool:
    if "name" in f and not any(n in volume["Name"] for n in f["name"]):
        return False
    if "dangling" in f and (f["dangling"][0] in ("true", "1")) == bool(users(volume["Name"])):
        return False
    return "label" not in f or flt.label_matches(volume["Labels"], f["label"])


def register(router: Router, engine: Engine) -> None:
    volumes = engine.volumes
    users = engine.containers.volume_users

    @router.route("GET", "/volumes", query=shapes.LIST_QUERY)
    def list_volumes(req: Request) -> Response:
        f = flt.of(req)
        return json_response({"Volumes": [v for v in volumes.all() if _matches(v, f, users)], "Warnings": []})

    @router.route("POST", "/volumes/create", body=shapes.VOLUME_CREATE)
    def create(req: Request) -> Response:
        body = req.json({}) or {}
        if not isinstance(body, dict):
            raise InvalidInput("invalid volume create request: expected a JSON object")
        volume = volumes.create(
            body.get("Name") or None, body.get("Labels"), body.get("DriverOpts"), body.get("Driver") or "local"
        )
        engine.events.emit("volume", "create", volume["Name"], {"driver": "local"})
        return json_response(volume, 201)

    @router.route("POST", "/volumes/prune", query=shapes.LIST_QUERY)
    def prune(req: Request) -> Response:
        f = flt.of(req)
        deleted, reclaimed = volumes.prune(any(v in ("true", "1") for v in f.get("all", [])), users)
        for name in deleted:
            engine.events.emit("volume", "destroy", name, {"driver": "local"})
        return json_response({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed})

    @router.route("GET", "/volumes/{name}")
    def inspect(req: Request) -> Response:
        return json_response(volumes.inspect(req.params["name"]))

    @router.route("DELETE", "/volumes/{name}")
    def remove(req: Request) -> Response:
        name = req.params["name"]
        volumes.remove(name, users(name))
        engine.events.emit("volume", "destroy", name, {"driver": "local"})
        return no_content()
