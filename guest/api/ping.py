"""/_ping once the server has loaded (before that, http/early.py answers it the same way)."""

from __future__ import annotations

from .http.early import PING_BODY, PING_TYPE, ping_headers
from .http.request import Request
from .http.responses import Response
from .http.router import Router


def register(router: Router) -> None:
    @router.route("GET", "/_ping")
    @router.route("HEAD", "/_ping")
    def ping(req: Request) -> Response:
        return Response(200, PING_BODY, PING_TYPE, ping_headers())
