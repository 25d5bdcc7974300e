"""A container's input and output: attach, logs, files (`docker cp`), processes (`docker top`) and stats."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from ..containers import archive, attach, changes, detachkeys, logconfig, logs, stats, top
from ..containers.record import Container
from ..containers.stdio import STDERR, STDOUT, Stdio, frame
from ..engine import Engine
from ..errors import Conflict, InvalidInput, Unimplemented
from . import shapes
from .http.request import Request
from .http.responses import Response, json_response
from .http.router import Router


def _content_type(c: Container) -> str:
    return "application/vnd.docker.raw-stream" if c.tty else "application/vnd.docker.multiplexed-stream"


def register(router: Router, engine: Engine) -> None:
    containers = engine.containers

    def get(req: Request) -> Container:
        return containers.get(req.params["id"])

    @router.route("POST", "/containers/{id}/attach")
    def attach_to(req: Request) -> Response | None:
        c = get(req)
        if not req.bool_arg("stream") and not req.bool_arg("logs"):
            raise InvalidInput("attach needs stream=1 or logs=1")
        keys = detachkeys.parse(req.arg("detachKeys") or "")

        def connect() -> Stdio:
            return req.hijack(_content_type(c))

        attach.session(
            containers,
            c,
            connect,
            replay=(req.bool_arg("stdout"), req.bool_arg("stderr")) if req.bool_arg("logs") else None,
            stream=req.bool_arg("stream"),
            stdin=req.bool_arg("stdin"),
            stdout=req.bool_arg("stdout", True),
            stderr=req.bool_arg("stderr", True),
            keys=keys,
        )
        return None

    @router.route("GET", "/containers/{id}/logs", query=shapes.LOGS_QUERY)
    def read_logs(req: Request) -> Response:
        c = get(req)
        stdout, stderr = req.bool_arg("stdout"), req.bool_arg("stderr")
        if not stdout and not stderr:
            raise InvalidInput("You must choose at least one stream")
        if not logconfig.kept(c.data["HostConfig"]):
            raise Unimplemented("configured logging driver does not support reading")
        tail_arg = req.arg("tail") or "all"
        try:
            tail = -1 if tail_arg == "all" else int(tail_arg)
        except ValueError:
            raise InvalidInput(f"invalid tail value {tail_arg!r}") from None
        since, until = float(req.arg("since") or 0), float(req.arg("until") or 0)
        timestamps = req.bool_arg("timestamps")

        def stream() -> Iterator[bytes]:
            for record in logs.read(
                c.log_path, stdout, stderr, since, until, tail, req.bool_arg("follow"), lambda: c.running
            ):
                if record is None:
                    yield b""
                    continue
                stamp, name, data = record
                if timestamps:
                    data = stamp.encode() + b" " + data
                yield data if c.tty else frame(STDOUT if name == "stdout" else STDERR, data)

        return Response(200, content_type=_content_type(c), stream=stream())

    @router.route("HEAD", "/containers/{id}/archive")
    @router.route("GET", "/containers/{id}/archive")
    def get_archive(req: Request) -> Response:
        c = get(req)
        path = req.arg("path") or ""
        if not path:
            raise InvalidInput("path is required: the file or folder in the container")
        # as Docker: the last component is followed only when the path ends with / or /.
        opened = archive.ContainerPath(containers, c, path, follow_last=path.endswith(("/", "/.")))
        try:
            headers = {"X-Docker-Container-Path-Stat": opened.stat_header(opened.stat())}
        except BaseException:
            opened.close()
            raise
        if req.method == "HEAD":
            opened.close()
            return Response(200, b"", content_type="application/x-tar", headers=headers)
        return Response(200, content_type="application/x-tar", headers=headers, stream=opened.tar())

    @router.route("PUT", "/containers/{id}/archive")
    def put_archive(req: Request) -> Response:
        c = get(req)
        with archive.ContainerPath(containers, c, req.arg("path") or "/", follow_last=True) as opened:
            opened.extract(req.stream(), owners=req.bool_arg("copyUIDGID"))
        return Response(200, b"", content_type="")

    @router.route("GET", "/containers/{id}/changes")
    def changed(req: Request) -> Response:
        c = get(req)
        layers = engine.images.get(c.data["Image"]).layers if engine.images.exists(c.data["Image"]) else []
        return json_response(changes.of(c.path / "upper", layers) or None)

    @router.route("GET", "/containers/{id}/top")
    def processes(req: Request) -> Response:
        c = get(req)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        return json_response(top.processes(containers.runtime, c, req.arg("ps_args") or "-ef"))

    @router.route("GET", "/containers/{id}/stats")
    def usage(req: Request) -> Response:
        c = get(req)
        if not req.bool_arg("stream", True) or req.bool_arg("one-shot"):
            return json_response(stats.sample(c, None))

        def stream() -> Iterator[bytes]:
            previous = None
            while True:
                current = stats.sample(c, previous)
                yield json.dumps(current).encode() + b"\n"
                previous = current
                if not c.running:
                    return
                time.sleep(1)

        return Response(200, stream=stream())
