"""Volume endpoints: list, create, inspect, remove, prune."""

from __future__ import annotations

from ..engine import Engine
from ..errors import InvalidInput
from . import filters as flt
from .http import Request, Response, Router, json_response, no_content


def register(router: Router, engine: Engine) -> None:
    volumes = engine.volumes
    users = engine.containers.volume_users

    @router.route("GET", "/volumes")
    def list_volumes(req: Request) -> Response:
        return json_response({"Volumes": volumes.all(flt.parse(req), users), "Warnings": []})

    @router.route("POST", "/volumes/create")
    def create(req: Request) -> Response:
        body = req.json({}) or {}
        if not isinstance(body, dict):
            raise InvalidInput("invalid volume create request: expected a JSON object")
        volume = volumes.create(
            body.get("Name") or None, body.get("Labels"), body.get("DriverOpts"), body.get("Driver") or "local"
        )
        engine.events.emit("volume", "create", volume["Name"], {"driver": "local"})
        return json_response(volume, 201)

    @router.route("POST", "/volumes/prune")
    def prune(req: Request) -> Response:
        f = flt.parse(req)
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
        volumes.remove(name, users(name), req.bool_arg("force"))
        engine.events.emit("volume", "destroy", name, {"driver": "local"})
        return no_content()
