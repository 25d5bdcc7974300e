"""Routes: (method, path pattern) to the function that answers, and what it accepts."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Callable, NamedTuple, Optional

from .errors import HttpError
from .request import Request
from .responses import Response
from .schema import Declared, Kind

Handler = Callable[[Request], Optional[Response]]


class Route(NamedTuple):
    method: str
    regex: re.Pattern[str]
    handler: Handler
    declared: Declared


class Router:
    """Maps (method, path pattern) to handlers. `{name}` matches one segment, `{name:path}` several.

    A route declares the kinds of its query parameters and of its JSON body; a request is checked against them
    before its handler runs (Request.check)."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def route(
        self, method: str, pattern: str, query: Mapping[str, Kind] | None = None, body: Kind | None = None
    ) -> Callable[[Handler], Handler]:
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        compiled = re.compile(f"^{regex}$")

        def add(func: Handler) -> Handler:
            self._routes.append(Route(method.upper(), compiled, func, Declared(query, body)))
            return func

        return add

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        for route in self._routes:
            found = route.regex.match(path)
            if found:
                if route.method == method:
                    return route, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
                allowed = True
        if allowed:
            raise HttpError(405, f"method {method} not allowed for {path}")
        raise HttpError(404, f"page not found: {method} {path}")
