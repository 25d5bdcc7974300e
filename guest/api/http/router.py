"""Routes: (method, path pattern) to the function that answers, and what it accepts."""

from __future__ import annotations

import re
import threading
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
    several: set[str]  # the parameters that may span segments ({name:path})
    before: Callable[[], None] | None  # what the request waits for before its handler runs (the agent's start-up)


class Router:
    """Maps (method, path pattern) to handlers. `{name}` matches one segment, `{name:path}` several.

    A route declares the kinds of its query parameters and of its JSON body; a request is checked against them
    before its handler runs (Request.check). Routes added while `before` is set wait for it first.

    The agent serves before most routes are added (their modules take seconds to import under TCG): until
    `complete` is set, a request that matches no route waits for it and is matched again."""

    def __init__(self, complete: bool = True) -> None:
        self._routes: list[Route] = []
        self.before: Callable[[], None] | None = None
        self.complete = threading.Event()
        if complete:
            self.complete.set()

    def route(
        self, method: str, pattern: str, query: Mapping[str, Kind] | None = None, body: Kind | None = None
    ) -> Callable[[Handler], Handler]:
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        compiled = re.compile(f"^{regex}$")
        several = set(re.findall(r"\{(\w+):path\}", pattern))

        def add(func: Handler) -> Handler:
            self._routes.append(Route(method.upper(), compiled, func, Declared(query, body), several, self.before))
            return func

        return add

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        try:
            return self._match(method, path)
        except HttpError:
            if self.complete.is_set():
                raise
        self.complete.wait()
        return self._match(method, path)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        for route in self._routes:
            found = route.regex.match(path)
            if found:
                if route.method == method:
                    return route, {k: _decode(k, v, k in route.several) for k, v in found.groupdict().items()}
                allowed = True
        if allowed:
            raise HttpError(405, f"method {method} not allowed for {path}")
        raise HttpError(404, f"page not found: {method} {path}")


def _decode(name: str, raw: str, several: bool) -> str:
    """A path parameter, %-decoded: one of a single segment (a name or an ID) never becomes a path (%2F is no
    `/` there), and none holds a NUL or a line break."""
    value = urllib.parse.unquote(raw)
    if (not several and "/" in value) or any(c in value for c in "\0\r\n"):
        raise HttpError(400, f"invalid {name} {value[:300]!r}: a name or ID holds no '/', NUL or line break")
    return value
