"""The server: the Engine API on a unix socket, one thread per connection, errors answered as Docker does."""

from __future__ import annotations

import http.server
import logging
import os
import select
import socket
import socketserver
import sys
import traceback
import urllib.parse
from typing import Any

from ... import __version__
from ...errors import EngineError
from . import versions
from .errors import HttpError, status_of
from .request import Request
from .responses import Response, json_response, no_content
from .router import Router

log = logging.getLogger("guest.http")


def common_headers() -> dict[str, str]:
    return {"Api-Version": versions.API_VERSION, "Docker-Experimental": "false", "Ostype": "linux"}


class Handler(http.server.BaseHTTPRequestHandler):
    """One connection: each request routed, answered (whole, streamed or hijacked) and logged."""

    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one write (no Nagle stalls through SSH); flushed per request
    server_version = f"machine-agent/{__version__}"
    sys_version = "(linux)"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s", format % args)

    def _dispatch(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        version, path = versions.split(url.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        request: Request | None = None
        try:
            if version:
                versions.check(version)
            func, params = self.server.router.match(self.command, path)
            request = Request(self, self.command, query, params)
            response = func(request)
        except EngineError as e:
            response = json_response({"message": e.message}, status_of(e))
        except HttpError as e:
            response = json_response({"message": e.message}, e.status)
        except Exception as e:  # a bug must not kill the agent: answer 500 and log it
            log.error("%s %s failed:\n%s", self.command, self.path, traceback.format_exc())
            response = json_response({"message": f"internal error: {e}"}, 500)
        if request is not None and request.hijacked:
            return
        if request is not None and not request.body_read and self.command in ("POST", "PUT"):
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
            super().__init__(path, Handler)
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
