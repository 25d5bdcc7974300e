"""Exec endpoints: create, start (hijacked unless detached), inspect, resize."""

from __future__ import annotations

from ..containers.stdio import STDOUT, frame
from ..engine import Engine
from ..errors import EngineError, InvalidInput
from . import shapes
from .http.request import Request
from .http.responses import Response, json_response
from .http.router import Router


def register(router: Router, engine: Engine) -> None:
    execs = engine.execs

    @router.route("POST", "/containers/{id}/exec", body=shapes.EXEC_CREATE)
    def create(req: Request) -> Response:
        body = req.json({})
        if not isinstance(body, dict) or not isinstance(body.get("Cmd"), list):
            raise InvalidInput("exec config needs Cmd, a list of strings")
        if "detachKeys" in body:  # docker-py's spelling (dockerd's JSON decoding ignores the case of names)
            body.setdefault("DetachKeys", body.pop("detachKeys"))
        if not isinstance(body.get("DetachKeys", ""), str):
            raise InvalidInput("DetachKeys must be a string, like ctrl-p,ctrl-q")
        ex = execs.create(engine.containers.get(req.params["id"]), body)
        return json_response({"Id": ex.id}, 201)

    @router.route("POST", "/exec/{id}/start", body=shapes.EXEC_START)
    def start(req: Request) -> Response | None:
        ex = execs.get(req.params["id"])
        body = req.json({}) or {}
        raw = bool(body.get("Tty"))  # the output's framing; whether it runs under a pty is the exec's own Tty
        execs.check_startable(ex)  # a clear status before the connection is hijacked
        if body.get("Detach"):
            execs.start(ex, None, raw)
            return Response(200, b"", content_type="")
        conn = req.hijack("application/vnd.docker.raw-stream" if raw else "application/vnd.docker.multiplexed-stream")
        try:
            execs.start(ex, conn, raw)
        except EngineError as e:  # as dockerd: why, on the client's stdout; the exec's exit code tells the rest
            conn.write((e.message + "\r\n").encode() if raw else frame(STDOUT, (e.message + "\r\n").encode()))
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
