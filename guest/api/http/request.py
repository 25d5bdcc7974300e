"""One API request: path parameters, query arguments, the body, and hijacking the connection."""

from __future__ import annotations

import io
import json
import select
import socket
from typing import Any, Protocol

from .bodies import Body
from .errors import HttpError
from .head import Headers
from .schema import Declared


class Connection(Protocol):
    """What a request reads and answers through: the server's handler of the connection."""

    headers: Headers
    rfile: io.BufferedIOBase
    wfile: io.BufferedIOBase
    connection: Any
    close_connection: bool

    def become_stream(self, hijacked: bool = False) -> None: ...


class Hijacked:
    """The raw connection after a 101 upgrade (or 200 for old clients): stdin in, output out."""

    def __init__(self, sock: socket.socket, rfile: io.BufferedIOBase):
        self.sock = sock
        self.rfile = rfile

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, n: int = 65536) -> bytes:
        """Read what the client sends; b"" when it half-closed or went away."""
        try:
            return self.rfile.read1(n)
        except OSError:
            return b""

    def close_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def gone(self) -> bool:
        """Whether the client closed the connection: a hang-up, not the half-close that ends its stdin."""
        poller = select.poll()
        poller.register(self.sock, 0)  # a hang-up is always reported
        return any(events & (select.POLLHUP | select.POLLERR) for _, events in poller.poll(0))


class Request:
    """One API request: path parameters, query arguments, body and hijacking."""

    def __init__(
        self, handler: Connection, method: str, query: dict[str, list[str]], params: dict[str, str], body: Body
    ):
        self._handler = handler
        self.method = method
        self.query = query
        self.params = params
        self.headers = handler.headers
        self.hijacked = False
        self._raw_body = body
        self._body: io.BufferedReader | None = None
        self._json: tuple[Any] | None = None  # the JSON body once read (and checked)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def bool_arg(self, name: str, default: bool = False) -> bool:
        value = self.arg(name)
        if value is None or value == "":
            return default
        return value.lower() not in ("0", "false", "no")

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise HttpError(400, f"invalid value for {name}: {value!r} is not an integer") from None

    def json_arg(self, name: str, default: Any = None) -> Any:
        value = self.arg(name)
        if not value:
            return default
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            raise HttpError(400, f"invalid JSON in query parameter {name}") from None

    def stream(self) -> io.BufferedReader:
        """The request body as a file (chunked or Content-Length)."""
        if self._body is None:
            self._body = io.BufferedReader(self._raw_body, 1 << 16)
        return self._body

    def body(self) -> bytes:
        return self.stream().read()

    def json(self, default: Any = None) -> Any:
        if self._json is None:
            data = self.body()
            try:
                self._json = (json.loads(data) if data.strip() else None,)
            except ValueError as e:
                raise HttpError(400, f"invalid JSON in request body: {e}") from None
            except RecursionError:
                raise HttpError(400, "invalid JSON in request body: nested too deeply") from None
        value = self._json[0]
        return default if value is None else value

    def check(self, declared: Declared) -> None:
        """Refuse (400, naming the field) query parameters or a JSON body of other kinds than the route declares;
        the body is kept as checked, with dockerd's shortcuts made plain (a string Cmd becomes a list)."""
        declared.check_query(self.query)
        if declared.body is not None:
            try:
                self._json = (declared.body.check(self.json(), ""),)
            except RecursionError:
                raise HttpError(400, "the request body is nested too deeply") from None

    def hijack(self, content_type: str = "application/vnd.docker.raw-stream") -> Hijacked:
        """Answer 101 UPGRADED (or 200 OK) and hand over the raw connection (a long-lived stream: 503 when there
        are too many)."""
        h = self._handler
        h.become_stream(hijacked=True)
        upgrade = "upgrade" in (self.headers.get("Connection") or "").lower()
        if upgrade:
            head = (
                f"HTTP/1.1 101 UPGRADED\r\nContent-Type: {content_type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            )
        else:
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n"
        h.wfile.write(head.encode())
        h.wfile.flush()
        self.hijacked = True
        h.close_connection = True
        return Hijacked(h.connection, h.rfile)
