"""Swarm endpoints as a dockerd that is not in a swarm answers them: 503, so clients that tolerate a node outside a
swarm (docker-py's `leave_swarm` in cleanups, `docker info`) go on. This engine cannot join or start one."""

from __future__ import annotations

from typing import Any

from ..engine import Engine
from ..errors import Unavailable, Unsupported
from .http.request import Request
from .http.responses import Response
from .http.router import Router

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm '
    "and try again."
)
NOT_IN_A_SWARM = "This node is not part of a swarm"

INACTIVE: dict[str, Any] = {  # /info's Swarm
    "NodeID": "",
    "NodeAddr": "",
    "LocalNodeState": "inactive",
    "ControlAvailable": False,
    "Error": "",
    "RemoteManagers": None,
}

_MANAGER_ROUTES = [
    ("GET", "/swarm"),
    ("GET", "/swarm/unlockkey"),
    ("POST", "/swarm/update"),
    ("POST", "/swarm/unlock"),
    ("GET", "/services"),
    ("POST", "/services/create"),
    ("GET", "/services/{id}"),
    ("POST", "/services/{id}/update"),
    ("DELETE", "/services/{id}"),
    ("GET", "/services/{id}/logs"),
    ("GET", "/nodes"),
    ("GET", "/nodes/{id}"),
    ("DELETE", "/nodes/{id}"),
    ("POST", "/nodes/{id}/update"),
    ("GET", "/tasks"),
    ("GET", "/tasks/{id}"),
    ("GET", "/tasks/{id}/logs"),
    ("GET", "/secrets"),
    ("POST", "/secrets/create"),
    ("GET", "/secrets/{id}"),
    ("POST", "/secrets/{id}/update"),
    ("DELETE", "/secrets/{id}"),
    ("GET", "/configs"),
    ("POST", "/configs/create"),
    ("GET", "/configs/{id}"),
    ("POST", "/configs/{id}/update"),
    ("DELETE", "/configs/{id}"),
]


def register(router: Router, engine: Engine) -> None:
    def not_a_manager(req: Request) -> Response:
        raise Unavailable(NOT_A_MANAGER)

    for method, path in _MANAGER_ROUTES:
        router.route(method, path)(not_a_manager)

    @router.route("POST", "/swarm/leave")
    def leave(req: Request) -> Response:
        raise Unavailable(NOT_IN_A_SWARM)

    @router.route("POST", "/swarm/init")
    @router.route("POST", "/swarm/join")
    def init_or_join(req: Request) -> Response:
        raise Unsupported("swarm mode is not supported by this engine: it runs containers on this machine only")
