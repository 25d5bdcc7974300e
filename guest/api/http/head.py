"""The head of an HTTP/1.x request (RFC 9112): its request line and header fields, read within limits.

Read here rather than by http.server, whose imports (http.client, email, ssl) are a third of the agent's start
under TCG, before it can answer its first /_ping.
"""

from __future__ import annotations

import io

from .errors import HttpError

MAX_LINE = 65536  # bytes of the request line and of each header line (as http.server)
MAX_FIELDS = 100  # header fields of one request (as http.client)
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")  # what the Engine API uses


class Headers:
    """A request's header fields; a name matches whatever its case, a repeated field answers with its first value
    (as email.message.Message does)."""

    def __init__(self, fields: list[tuple[str, str]]):
        self._first: dict[str, str] = {}
        for name, value in fields:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)


class Head:
    """A request's line (method, target, HTTP version as (major, minor)) and header fields."""

    def __init__(self, method: str, target: str, version: tuple[int, int], headers: Headers):
        self.method, self.target, self.version, self.headers = method, target, version, headers

    @property
    def keep_alive(self) -> bool:
        """Whether the connection stays open after the answer: HTTP/1.1's default, HTTP/1.0's on request."""
        tokens = {token.strip().lower() for token in (self.headers.get("Connection") or "").split(",")}
        if "close" in tokens:
            return False
        return self.version >= (1, 1) or "keep-alive" in tokens

    @property
    def expects_continue(self) -> bool:
        """Whether the client waits for `100 Continue` before it sends the body."""
        return self.version >= (1, 1) and (self.headers.get("Expect") or "").lower() == "100-continue"


def read_head(rfile: io.BufferedIOBase) -> Head | None:
    """The next request's head; None when the client closed the connection instead. HttpError for a malformed
    head (a status of 400, 414, 431, 501 or 505), after which the connection cannot be used again."""
    line = rfile.readline(MAX_LINE + 1)
    if line in (b"\r\n", b"\n"):  # an empty line before a request is ignored (RFC 9112, 2.2)
        line = rfile.readline(MAX_LINE + 1)
    if not line:
        return None
    if len(line) > MAX_LINE:
        raise HttpError(414, "the request line is too long")
    words = line.decode("iso-8859-1").rstrip("\r\n").split(" ")
    if len(words) != 3 or not all(words):
        raise HttpError(400, f"bad request line {line[:200].decode('iso-8859-1')!r}")
    method, target, protocol = words
    version = _version(protocol)
    if method not in METHODS:
        raise HttpError(501, f"unsupported method {method[:50]!r}")
    fields: list[tuple[str, str]] = []
    while True:
        raw = rfile.readline(MAX_LINE + 1)
        if raw in (b"\r\n", b"\n", b""):
            return Head(method, target, version, Headers(fields))
        if len(raw) > MAX_LINE:
            raise HttpError(431, "a header line is too long")
        if len(fields) == MAX_FIELDS:
            raise HttpError(431, f"more than {MAX_FIELDS} header fields")
        name, colon, value = raw.decode("iso-8859-1").partition(":")
        if not colon or not name or name != name.strip() or " " in name:  # obsolete line folding included
            raise HttpError(400, f"bad header line {raw[:200].decode('iso-8859-1')!r}")
        fields.append((name, value.strip()))


def _version(protocol: str) -> tuple[int, int]:
    """(major, minor) of `HTTP/x.y`; only HTTP/1.x is served."""
    major, dot, minor = protocol[len("HTTP/") :].partition(".")
    if not protocol.startswith("HTTP/") or not dot or not (major.isdecimal() and minor.isdecimal()):
        raise HttpError(400, f"bad HTTP version {protocol[:50]!r}")
    if int(major) != 1:
        raise HttpError(505, f"HTTP version {protocol[:50]} is not supported")
    return int(major), int(minor)
