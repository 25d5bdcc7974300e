"""GET /distribution/{name}/json (docker-py images.get_registry_data): a registry's manifest of an image."""

from __future__ import annotations

from ..engine import Engine
from ..errors import InvalidInput
from ..images.reference import Reference
from .http.request import Request
from .http.responses import Response, json_response
from .http.router import Router


def register(router: Router, engine: Engine) -> None:
    @router.route("GET", "/distribution/{name:path}/json")
    def inspect(req: Request) -> Response:
        from ..images import distribution, registry  # the registry client (ssl, http) is imported at first use

        ref = Reference.parse(req.params["name"])
        try:  # as dockerd: credentials that cannot be read are none
            auth = registry.decode_auth(req.headers.get("X-Registry-Auth"))
        except InvalidInput:
            auth = {}
        return json_response(distribution.inspect(ref, auth, engine.insecure_registries))
