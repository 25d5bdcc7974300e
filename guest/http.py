"""A small HTTP/1.1 server for the Engine API on a unix socket.

Routing with versioned and unversioned paths, JSON and chunked streaming responses,
request bodies with Content-Length or chunked encoding, and connection hijacking
(attach, exec start) the way the docker CLI and docker-py expect it.
"""

from __future__ import annotations

import http.server
import io
import json
import logging
import os
import queue
import re
import select
import socket
import socketserver
import sys
import threading
import traceback
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

from . import __version__

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"

log = logging.getLogger("guest.http")

_VERSIONED = re.compile(r"^/v(\d+\.\d+)(/.*)$")


class ApiError(Exception):
    """An error answered as Docker does: a status code and {"message": ...}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


class Response:
    """A whole response (body) or a streamed one (stream: chunks sent as they come)."""

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        stream: Iterable[bytes] | None = None,
    ):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}
        self.stream = stream


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(obj).encode() + b"\n", headers=headers)


def progress_stream(work: Callable[[Callable[[dict[str, Any]], None]], None]) -> Response:
    """Run `work` in a thread and stream the progress messages it reports (pull, push, build); an error
    after streaming began arrives in-band, as Docker sends it."""
    messages: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def run() -> None:
        try:
            work(messages.put)
        except ApiError as e:
            messages.put({"errorDetail": {"message": e.message}, "error": e.message})
        except Exception as e:  # reported to the client, not a crash of the agent
            messages.put({"errorDetail": {"message": str(e)}, "error": str(e)})
        messages.put(None)

    def items() -> Iterator[dict[str, Any] | None]:
        threading.Thread(target=run, daemon=True).start()
        while True:
            try:
                message = messages.get(timeout=1)
            except queue.Empty:
                yield None  # heartbeat: notices a client that went away
                continue
            if message is None:
                return
            yield message

    return json_stream(items())


def no_content() -> Response:
    return Response(204, content_type="")


def json_stream(items: Iterable[Any]) -> Response:
    """A chunked stream of JSON messages, one per line (pull, push, build, stats).

    An item of None is passed on as a heartbeat (see _Handler._send)."""
    return Response(stream=(b"" if i is None else json.dumps(i).encode() + b"\n" for i in items))


class _ChunkedReader(io.RawIOBase):
    """Decodes a chunked request body."""

    def __init__(self, rfile: io.BufferedIOBase):
        self._rfile = rfile
        self._left = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._done:
            return 0
        if self._left == 0:
            line = self._rfile.readline(1024)
            try:
                self._left = int(line.split(b";")[0].strip() or b"x", 16)
            except ValueError:
                raise ApiError(400, "malformed chunked request body") from None
            if self._left == 0:
                while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                self._done = True
                return 0
        data = self._rfile.read(min(len(buf), self._left))
        if not data:
            raise ApiError(400, "request body ended early")
        n = len(data)
        buf[:n] = data
        self._left -= n
        if self._left == 0:
            self._rfile.readline(16)
        return n


class _LengthReader(io.RawIOBase):
    """Reads exactly Content-Length bytes of a request body."""

    def __init__(self, rfile: io.BufferedIOBase, length: int):
        self._rfile = rfile
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._left <= 0:
            return 0
        data = self._rfile.read(min(len(buf), self._left))
        n = len(data)
        buf[:n] = data
        self._left -= n
        return n


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


class Request:
    """One API request: path parameters, query arguments, body and hijacking."""

    def __init__(
        self,
        handler: _Handler,
        method: str,
        path: str,
        version: str | None,
        query: dict[str, list[str]],
        params: dict[str, str],
    ):
        self._handler = handler
        self.method = method
        self.path = path
        self.version = version or API_VERSION
        self.query = query
        self.params = params
        self.headers = handler.headers
        self.hijacked = False
        self._body: io.BufferedReader | None = None

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
            raise bad_request(f"invalid value for {name}: {value!r} is not an integer") from None

    def json_arg(self, name: str, default: Any = None) -> Any:
        value = self.arg(name)
        if not value:
            return default
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"invalid JSON in query parameter {name}") from None

    def version_at_least(self, version: str) -> bool:
        return _version_tuple(self.version) >= _version_tuple(version)

    def stream(self) -> io.BufferedReader:
        """The request body as a file (chunked or Content-Length)."""
        if self._body is None:
            h = self._handler
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                raw: io.RawIOBase = _ChunkedReader(h.rfile)
            else:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    raise bad_request("invalid Content-Length") from None
                raw = _LengthReader(h.rfile, length)
            self._body = io.BufferedReader(raw, 1 << 16)
        return self._body

    def body(self) -> bytes:
        return self.stream().read()

    def json(self, default: Any = None) -> Any:
        data = self.body()
        if not data.strip():
            return default
        try:
            return json.loads(data)
        except ValueError as e:
            raise bad_request(f"invalid JSON in request body: {e}") from None

    def hijack(self, content_type: str = "application/vnd.docker.raw-stream") -> Hijacked:
        """Answer 101 UPGRADED (or 200 OK) and hand over the raw connection."""
        h = self._handler
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


Handler = Callable[[Request], Optional[Response]]


class Router:
    """Maps (method, path pattern) to handlers. `{name}` matches one segment, `{name:path}` several."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        compiled = re.compile(f"^{regex}$")

        def add(func: Handler) -> Handler:
            self._routes.append((method.upper(), compiled, func))
            return func

        return add

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed = False
        for m, regex, func in self._routes:
            found = regex.match(path)
            if found:
                if m == method:
                    return func, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
                allowed = True
        if allowed:
            raise ApiError(405, f"method {method} not allowed for {path}")
        raise ApiError(404, f"page not found: {method} {path}")


def common_headers() -> dict[str, str]:
    return {
        "Api-Version": API_VERSION,
        "Docker-Experimental": "false",
        "Ostype": "linux",
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one write (no Nagle stalls through SSH); flushed per request
    server_version = f"machine-agent/{__version__}"
    sys_version = "(linux)"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s", format % args)

    def _dispatch(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        version = None
        versioned = _VERSIONED.match(path)
        if versioned:
            version, path = versioned.group(1), versioned.group(2)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        request: Request | None = None
        try:
            if version and _version_tuple(version) > _version_tuple(API_VERSION):
                raise bad_request(
                    f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
                )
            if version and _version_tuple(version) < _version_tuple(MIN_API_VERSION):
                raise bad_request(
                    f"client version {version} is too old. "
                    f"Minimum supported API version is {MIN_API_VERSION}, "
                    f"please upgrade your client to a newer version"
                )
            func, params = self.server.router.match(self.command, path)
            request = Request(self, self.command, path, version, query, params)
            response = func(request)
        except ApiError as e:
            response = json_response({"message": e.message}, e.status)
        except Exception as e:  # a bug must not kill the agent: answer 500 and log it
            log.error("%s %s failed:\n%s", self.command, self.path, traceback.format_exc())
            response = json_response({"message": f"internal error: {e}"}, 500)
        if request is not None and request.hijacked:
            return
        if request is not None and request._body is None and self.command in ("POST", "PUT"):
            self.close_connection = True  # unread body: the connection cannot be reused
        self._send(response or no_content())

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        headers = {**common_headers(), **response.headers}
        if response.content_type:
            headers["Content-Type"] = response.content_type
        if response.stream is not None:
            headers["Transfer-Encoding"] = "chunked"
        elif response.status not in (204, 304):
            headers["Content-Length"] = str(len(response.body))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.stream is None:
            self.wfile.write(response.body)
            return
        self.wfile.flush()
        try:
            for chunk in response.stream:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                elif self._peer_closed():  # an empty chunk is a stream's heartbeat
                    self.close_connection = True
                    return
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            close = getattr(response.stream, "close", None)
            if close:
                close()

    def _peer_closed(self) -> bool:
        """True when the client has hung up (readable with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The Engine API on a unix socket (never TCP), root-owned, mode 0660."""

    daemon_threads = True

    def __init__(self, path: str, router: Router, mode: int = 0o660, group: int | None = None):
        self.router = router
        if os.path.exists(path):
            os.unlink(path)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        old = os.umask(0o777 & ~mode)
        try:
            super().__init__(path, _Handler)
        finally:
            os.umask(old)
        os.chmod(path, mode)
        if group is not None:  # the SSH user's group, when provisioning logs in as a non-root user
            os.chown(path, -1, group)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-response is normal (hijacked streams end that way): no traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, BrokenPipeError)):
            log.debug("client went away: %s", error)
            return
        log.error("request failed:\n%s", traceback.format_exc())

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        sock, _ = self.socket.accept()
        return sock, ("agent", 0)  # BaseHTTPRequestHandler wants a (host, port) client address
