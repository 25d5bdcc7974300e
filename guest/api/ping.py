"""/_ping: the route that answers as soon as the agent listens, before the engine and the other routes load."""

from __future__ import annotations

from .http import Request, Response, Router


def _ping_headers() -> dict[str, str]:
    return {"Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


def register(router: Router) -> None:
    @router.route("GET", "/_ping")
    @router.route("HEAD", "/_ping")
    def ping(req: Request) -> Response:
        return Response(200, b"OK", "text/plain; charset=utf-8", _ping_headers())
