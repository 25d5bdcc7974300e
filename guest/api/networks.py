"""Network endpoints: list, inspect, create, remove, prune, connect, disconnect."""

from __future__ import annotations

from typing import Any

from ..engine import Engine
from ..errors import InvalidInput
from ..network.networks import wanted
from . import filters as flt
from . import shapes
from .http.request import Request
from .http.responses import Response, json_response, no_content
from .http.router import Router


def register(router: Router, engine: Engine) -> None:
    containers = engine.containers
    networks = containers.networks

    def members(record: dict[str, Any]) -> list[str]:
        return [c.id for c in containers.all() if c.running and record["Name"] in c.networks] + [
            c.id for c in containers.all() if not c.running and record["Name"] in wanted(c)
        ]

    def emit(action: str, record: dict[str, Any], container: str = "") -> None:
        attrs = {"name": record["Name"], "type": record.get("Driver", "bridge")}
        if container:
            attrs["container"] = container
        engine.events.emit("network", action, record["Id"], attrs)

    @router.route("GET", "/networks", query=shapes.LIST_QUERY)
    def list_networks(req: Request) -> Response:
        f = flt.of(req)
        rows = []
        for record in networks.all():
            if "name" in f and not any(n in record["Name"] for n in f["name"]):
                continue
            if "id" in f and not any(record["Id"].startswith(i) for i in f["id"]):
                continue
            if "driver" in f and record.get("Driver") not in f["driver"]:
                continue
            if "label" in f and not flt.label_matches(record.get("Labels") or {}, f["label"]):
                continue
            if "type" in f and ("builtin" if record.get("Builtin") else "custom") not in f["type"]:
                continue
            rows.append(networks.inspect(record, containers.all()))
        return json_response(rows)

    @router.route("POST", "/networks/create", body=shapes.NETWORK_CREATE)
    def create(req: Request) -> Response:
        body = req.json({}) or {}
        if not isinstance(body, dict):
            raise InvalidInput("invalid network create request: expected a JSON object")
        record = networks.create(body)
        emit("create", record)
        return json_response({"Id": record["Id"], "Warning": ""}, 201)

    @router.route("POST", "/networks/prune", query=shapes.LIST_QUERY)
    def prune(req: Request) -> Response:
        deleted = []
        for record in networks.all():
            if not record.get("Builtin") and not members(record):
                networks.remove(record, [])
                emit("destroy", record)
                deleted.append(record["Name"])
        return json_response({"NetworksDeleted": deleted or None})

    @router.route("GET", "/networks/{id}")
    def inspect(req: Request) -> Response:
        return json_response(networks.inspect(networks.get(req.params["id"]), containers.all()))

    @router.route("DELETE", "/networks/{id}")
    def remove(req: Request) -> Response:
        record = networks.get(req.params["id"])
        networks.remove(record, members(record))
        emit("destroy", record)
        return no_content()

    @router.route("POST", "/networks/{id}/connect", body=shapes.NETWORK_CONNECT)
    def connect(req: Request) -> Response:
        record = networks.get(req.params["id"])
        body = req.json({}) or {}
        c = containers.get(body.get("Container") or "")
        containers.connect(c, record, body.get("EndpointConfig") or {})
        emit("connect", record, c.id)
        return Response(200, b"", content_type="")

    @router.route("POST", "/networks/{id}/disconnect", body=shapes.NETWORK_DISCONNECT)
    def disconnect(req: Request) -> Response:
        record = networks.get(req.params["id"])
        body = req.json({}) or {}
        c = containers.get(body.get("Container") or "")
        containers.disconnect(c, record)
        emit("disconnect", record, c.id)
        return Response(200, b"", content_type="")
