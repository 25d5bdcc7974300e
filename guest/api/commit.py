"""POST /commit (`docker commit`): a container's changes as a new image."""

from __future__ import annotations

from ..containers import commit
from ..engine import Engine
from . import shapes
from .http.request import Request
from .http.responses import Response, json_response
from .http.router import Router


def register(router: Router, engine: Engine) -> None:
    @router.route("POST", "/commit", body=shapes.CONTAINER_CREATE)
    def commit_container(req: Request) -> Response:
        c = engine.containers.get(req.arg("container") or "")
        body = {k: v for k, v in (req.json({}) or {}).items() if k not in ("HostConfig", "NetworkingConfig")}
        options = commit.Options(
            repo=req.arg("repo") or "",
            tag=req.arg("tag") or "",
            author=req.arg("author") or "",
            comment=req.arg("comment") or "",
            pause=req.bool_arg("pause", True),
            changes=req.args("changes"),
            config=body or None,
        )
        return json_response({"Id": commit.commit(engine.containers, c, options)}, 201)
