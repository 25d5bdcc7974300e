"""Routes: (method, path pattern) to the function that answers."""

from __future__ import annotations

import re
import urllib.parse
from typing import Callable, Optional

from .errors import HttpError
from .request import Request
from .responses import Response

Handler = Callable[[Request], Optional[Response]]


class Router:
    """Maps (method, path pattern) to handlers. `{name}` matches one segment, `{name:path}` several."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler, set[str]]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        compiled = re.compile(f"^{regex}$")
        several = set(re.findall(r"\{(\w+):path\}", pattern))

        def add(func: Handler) -> Handler:
            self._routes.append((method.upper(), compiled, func, several))
            return func

        return add

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed = False
        for m, regex, func, several in self._routes:
            found = regex.match(path)
            if found:
                if m == method:
                    return func, {k: _decode(k, v, k in several) for k, v in found.groupdict().items()}
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
