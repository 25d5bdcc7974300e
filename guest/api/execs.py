"""Exec endpoints: create, start (hijacked unless detached), inspect, resize."""

from __future__ import annotations

from ..engine import Engine
from ..errors import InvalidInput
from . import shapes
from .http import Request, Response, Router, json_response


def register(router: Router, engine: Engine) -> None:
    execs = engine.execs

    @router.route("POST", "/containers/{id}/exec", body=shapes.EXEC_CREATE)
    def create(req: Request) -> Response:
        body = req.json({})
        if not isinstance(body, dict) or not isinstance(body.get("Cmd"), list):
            raise InvalidInput("exec config needs Cmd, a list of strings")
        ex = execs.create(engine.containers.get(req.params["id"]), body)
        return json_response({"Id": ex.id}, 201)

    @router.route("POST", "/exec/{id}/start", body=shapes.EXEC_START)
    def start(req: Request) -> Response | None:
        ex = execs.get(req.params["id"])
        body = req.json({}) or {}
        tty = bool(body.get("Tty", ex.config.get("Tty")))
        execs.check_startable(ex)  # a clear status before the connection is hijacked
        if body.get("Detach"):
            execs.start(ex, None, tty)
            return Response(200, b"", content_type="")
        conn = req.hijack("application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream")
        try:
            execs.start(ex, conn, tty)
        finally:
            conn.close_write()
        return None

    @router.route("GET", "/exec/{id}/json")
    def inspect(req: Request) -> Response:
        return json_response(execs.get(req.params["id"]).inspect())

    @router.route("POST", "/exec/{id}/resize", query=shapes.RESIZE_QUERY)
    def resize(req: Request) -> Response:
        execs.resize(execs.get(req.params["id"]), req.int_arg("h", 24) or 24, req.int_arg("w", 80) or 80)
        return Response(200, b"", content_type="text/plain")
