"""Container endpoints: create, list, inspect, start, stop, restart, kill, update, pause, rename, remove, wait,
prune."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

from ..containers import monitor, signals, update, waiting
from ..containers.record import Container
from ..engine import Engine
from ..errors import Conflict, InvalidInput, SystemFailure
from ..network import links
from . import filters as flt
from . import shapes
from .container_json import inspect, summary
from .container_json import sizes as container_sizes
from .http.request import Request
from .http.responses import Response, json_response, json_stream, no_content
from .http.router import Router

KILL_WAIT = 60.0  # seconds a SIGKILLed container has to exit (dockerd: 10 + 2; this host may be loaded)


def _matches(c: Container, f: dict[str, list[str]]) -> bool:
    if "status" in f and c.state["Status"] not in f["status"]:
        return False
    if "name" in f and not any(n.lstrip("/") in c.name for n in f["name"]):
        return False
    if "id" in f and not any(c.id.startswith(i) for i in f["id"]):
        return False
    if "label" in f and not flt.label_matches(c.data["Config"].get("Labels") or {}, f["label"]):
        return False
    if "exited" in f and not (c.state["Status"] == "exited" and str(c.state["ExitCode"]) in f["exited"]):
        return False
    if "ancestor" in f:
        image = c.data["Config"].get("Image", "")
        if not any(
            a in (image, c.data["Image"]) or c.data["Image"][7:].startswith(a) or image.split(":")[0] == a
            for a in f["ancestor"]
        ):
            return False
    return True


def register(router: Router, engine: Engine) -> None:
    containers = engine.containers

    def get(req: Request) -> Container:
        return containers.get(req.params["id"])

    def sizes(c: Container) -> dict[str, int]:
        return container_sizes(engine.images, c)

    @router.route("GET", "/containers/json", query=shapes.LIST_QUERY)
    def list_containers(req: Request) -> Response:
        f = flt.of(req)
        everything = req.bool_arg("all") or "status" in f or "exited" in f
        rows = [c for c in containers.all() if (everything or c.running or c.restarting) and _matches(c, f)]
        rows.sort(key=lambda c: c.data["Created"], reverse=True)
        limit = req.int_arg("limit", -1) or -1
        if limit > 0:
            rows = rows[:limit]
        return json_response([summary(c, sizes(c) if req.bool_arg("size") else None) for c in rows])

    @router.route("POST", "/containers/create", body=shapes.CONTAINER_CREATE)
    def create(req: Request) -> Response:
        body = req.json({})
        c = containers.create(body, req.arg("name") or None)
        return json_response({"Id": c.id, "Warnings": c.warnings}, 201)

    @router.route("POST", "/containers/prune", query=shapes.LIST_QUERY)
    def prune(req: Request) -> Response:
        deleted, reclaimed = containers.prune()
        return json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})

    @router.route("GET", "/containers/{id}/json")
    def inspect_container(req: Request) -> Response:
        c = get(req)
        return json_response(inspect(c, links.shown(c, containers.all()), sizes(c) if req.bool_arg("size") else None))

    @router.route("POST", "/containers/{id}/start")
    def start(req: Request) -> Response:
        c = get(req)
        if c.restarting or not containers.start(c):  # a restarting container is running to dockerd
            return Response(304, content_type="")
        return no_content()

    @router.route("POST", "/containers/{id}/stop", query=shapes.STOP_QUERY)
    def stop(req: Request) -> Response:
        c = get(req)
        timeout = req.int_arg("t", req.int_arg("timeout"))
        if not containers.stop(c, timeout, req.arg("signal")):
            return Response(304, content_type="")
        return no_content()

    @router.route("POST", "/containers/{id}/restart", query=shapes.STOP_QUERY)
    def restart(req: Request) -> Response:
        c = get(req)
        containers.stop(c, req.int_arg("t", req.int_arg("timeout")), req.arg("signal"))
        containers.start(c)
        containers.emit(c, "restart")
        return no_content()

    @router.route("POST", "/containers/{id}/kill", query={"signal": shapes.SIGNAL})
    def kill(req: Request) -> Response:
        """SIGKILL (the default) answers once the exit is recorded, as dockerd's; other signals are only sent."""
        c = get(req)
        number = signals.number(req.arg("signal"), signal.SIGKILL)
        since, restarting = time.time_ns(), c.restarting
        containers.kill(c, number)
        if number == signal.SIGKILL and not restarting:
            deadline = since + int(KILL_WAIT * 1e9)
            if not any(waiting.until(containers, c, "next-exit", since, deadline)):
                raise SystemFailure(f"tried to kill container {c.name}, but did not receive an exit event")
        return no_content()

    @router.route("POST", "/containers/{id}/update", body=shapes.CONTAINER_UPDATE)
    def update_container(req: Request) -> Response:
        return json_response({"Warnings": update.update(containers, get(req), req.json({}))})

    @router.route("POST", "/containers/{id}/pause")
    def pause(req: Request) -> Response:
        containers.pause(get(req), True)
        return no_content()

    @router.route("POST", "/containers/{id}/unpause")
    def unpause(req: Request) -> Response:
        containers.pause(get(req), False)
        return no_content()

    @router.route("POST", "/containers/{id}/rename")
    def rename(req: Request) -> Response:
        containers.rename(get(req), req.arg("name") or "")
        return no_content()

    @router.route("DELETE", "/containers/{id:path}")
    def remove(req: Request) -> Response:
        """Remove a container, or with link=1 the link `parent/alias` (docker rm --link), as dockerd."""
        if req.bool_arg("link"):
            containers.unlink(req.params["id"])
        else:
            containers.remove(get(req), req.bool_arg("force"), req.bool_arg("v"))
        return no_content()

    @router.route("POST", "/containers/{id}/wait")
    def wait(req: Request) -> Response:
        c = get(req)
        condition = req.arg("condition") or "not-running"
        if condition not in waiting.CONDITIONS:
            raise InvalidInput(f"invalid condition: {condition!r}")

        since = time.time_ns()

        def answer() -> Iterator[dict[str, Any] | None]:
            for status in waiting.until(containers, c, condition, since):
                if status is None:
                    yield None  # a heartbeat while waiting
                else:
                    yield {"StatusCode": status.code, "Error": {"Message": status.error} if status.error else None}

        return json_stream(answer())

    @router.route("POST", "/containers/{id}/resize", query=shapes.RESIZE_QUERY)
    def resize(req: Request) -> Response:
        c = get(req)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        monitor.resize(c.bundle, req.int_arg("h", 24) or 24, req.int_arg("w", 80) or 80)
        return Response(200, b"", content_type="text/plain")
