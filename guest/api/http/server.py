"""The server: the Engine API on a unix socket, errors answered as Docker does.

dockerd gives every connection a goroutine, which costs little; a Python thread costs more, so here one thread
(the selector) watches every idle connection and a bounded pool of workers serves the requests that arrive: a
thousand idle keep-alive connections take no thread. A request that turns into a long-lived stream (attach, exec,
logs -f, events, stats, wait, the progress of pull, push and build) keeps its thread but leaves the pool, and
another worker takes its place: streams never starve short requests, and their number is bounded too (503 past
it). Reads have time limits (timeouts.py); a body a handler did not read is drained (bounded) or the connection
closed, so the next request on it is never read from the middle of a body.
"""

from __future__ import annotations

import _socket
import errno
import io
import logging
import queue
import selectors
import socket
import threading
import time
import traceback
import urllib.parse
from http import HTTPStatus
from typing import cast

from ...errors import EngineError
from . import bodies, response_head, versions
from .errors import HttpError, answer_of
from .head import Headers, read_head
from .request import Request
from .responses import Response, json_response, no_content
from .router import Router
from .timeouts import Limits, TimedReader, readable
from .workers import Workers

log = logging.getLogger("guest.http")

LINGER = 5.0  # seconds a connection closing on an unread body still reads it, for the client to take the answer
_OUT_OF_FILES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def error_response(error: Exception, method: str, path: str) -> Response:
    """The answer to a request whose handler raised `error` (a 500 and a logged traceback for a bug)."""
    answer = answer_of(error)
    if answer is None:
        log.error("%s %s failed:\n%s", method, path, traceback.format_exc())
        answer = 500, f"internal error: {error}"
    elif answer[0] >= 500:
        log.warning("%s %s failed: %s", method, path, answer[1])
    return json_response({"message": answer[1]}, answer[0])


class Handler:
    """One connection, served a request at a time by whichever worker the server hands it to."""

    def __init__(self, sock: socket.socket, server: Server):
        self.server = server
        self.connection = sock
        self.reader = TimedReader(sock)
        self.buffered = io.BufferedReader(self.reader, 1 << 14)
        self.rfile: io.BufferedIOBase = self.buffered
        self.wfile = cast(io.BufferedIOBase, sock.makefile("wb", 1 << 16))  # headers and body in one write
        self.close_connection = False
        self.streaming = False
        self.command = self.path = ""
        self.headers = Headers([])

    def serve_one(self) -> None:
        """Read one request (its head within the read limit) and answer it."""
        self.streaming = False
        self.reader.timed_out = False
        self.reader.deadline, self.reader.timeout = time.monotonic() + self.server.limits.read, None
        try:
            try:
                head = read_head(self.rfile)
            except HttpError as e:  # where the next request would begin is unknown: answer and close
                self.command, self.path, self.close_connection = "", "", True
                self._send(json_response({"message": e.message}, e.status), None)
                return
            if head is None:
                self.close_connection = True
                return
            self.command, self.path, self.headers = head.method, head.target, head.headers
            self.close_connection = not head.keep_alive
            if head.expects_continue:
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.wfile.flush()
            self._dispatch()
            self.wfile.flush()
        except OSError as e:  # the client went away or stopped reading
            log.debug("connection ended: %s", e)
            self.close_connection = True

    def pending(self) -> bool:
        """Whether (part of) a next request is already read into the buffer, where the selector cannot see it."""
        self.reader.peeking = True
        try:
            return bool(self.buffered.peek(1))
        except OSError:
            return False
        finally:
            self.reader.peeking = False

    def close(self) -> None:
        for f in (self.wfile, self.rfile):
            try:
                f.close()
            except OSError:
                pass
        self.connection.close()

    def become_stream(self, hijacked: bool = False) -> None:
        """This request turns into a long-lived stream: its thread leaves the pool (503 when too many streams);
        a hijacked connection's reads wait as long as the client wants."""
        if not self.streaming:
            self.server.workers.leave()
            self.streaming = True
        if hijacked:
            self.reader.deadline = self.reader.timeout = None

    def _dispatch(self) -> None:
        self.reader.deadline, self.reader.timeout = None, self.server.limits.read
        url = urllib.parse.urlsplit(self.path)
        version, path = versions.split(url.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        request: Request | None = None
        body: bodies.Body | None = None
        try:
            body = bodies.open_body(self.rfile, self.headers)
            if version:
                versions.check(version)
            route, params = self.server.router.match(self.command, path)
            request = Request(self, self.command, query, params, body)
            request.check(route.declared)
            if route.before is not None:
                route.before()
            response = route.handler(request) or no_content()
        except Exception as e:
            response = error_response(e, self.command, self.path)
        if request is not None and request.hijacked:
            return
        if self.reader.timed_out:
            log.info("%s %s: the client stopped sending its request body", self.command, self.path)
            response = json_response({"message": "timed out reading the request body"}, 408)
        self._send(response, body)

    def _send(self, response: Response, body: bodies.Body | None) -> None:
        """Answer; a body left unread is drained first (bounded), or the connection closes after the answer."""
        if response.stream is not None:
            try:
                self.become_stream()
            except HttpError as e:
                getattr(response.stream, "close", lambda: None)()
                response = json_response({"message": e.message}, e.status)
        if response.stream is None and (
            body is None or self.reader.timed_out or not bodies.drain(body, self.server.limits.drain)
        ):
            self.close_connection = True
        log.debug("%s %s: %d", self.command, self.path, response.status)
        headers = dict(response.headers)
        if response.content_type:
            headers["Content-Type"] = response.content_type
        if response.stream is not None:
            headers["Transfer-Encoding"] = "chunked"
        elif response.status not in (204, 304):
            headers["Content-Length"] = str(len(response.body))
        if self.close_connection:
            headers["Connection"] = "close"
        self.wfile.write(response_head.encode(response.status, _reason(response.status), headers))
        if response.stream is None:
            self._write_whole(b"" if self.command == "HEAD" else response.body)
            if body is not None and not body.finished and not self.reader.timed_out:
                self._linger(body)
            return
        self.wfile.flush()
        if self.command != "HEAD":
            self._write_stream(response)
        if body is None or not body.finished:  # a stream's handler may read the body as it goes (build)
            self.close_connection = True

    def _write_whole(self, data: bytes) -> None:
        """A whole response, which the client must take within the read limit."""
        self.connection.settimeout(self.server.limits.read)
        try:
            self.wfile.write(data)
            self.wfile.flush()
        finally:
            self.connection.settimeout(None)

    def _linger(self, body: bodies.Body) -> None:
        """The client may still be sending the body it got its answer to (an upload that failed early): stop
        writing and read what it sends for a little while, so that it reads the answer rather than a broken
        pipe (as Go's server lingers before it closes)."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            return
        self.reader.deadline = time.monotonic() + LINGER
        bodies.drain(body, 1 << 62)

    def _write_stream(self, response: Response) -> None:
        try:
            for chunk in response.stream or ():
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                elif self._peer_closed():  # an empty chunk is a stream's heartbeat
                    self.close_connection = True
                    return
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        except EngineError as e:  # after the 200 no status can say it: the stream ends unfinished, the log says why
            log.warning("%s %s: stream ended early: %s", self.command, self.path, e.message)
            self.close_connection = True
        finally:
            close = getattr(response.stream, "close", None)
            if close:
                close()

    def _peer_closed(self) -> bool:
        """True when the client has hung up (readable with nothing to read)."""
        try:
            return readable(self.connection, 0) and not self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True


class Server:
    """The Engine API on a listening unix socket (listener.listen): a selector thread (serve_forever) that accepts
    connections and watches the idle ones, and the workers that serve their requests."""

    def __init__(self, listener: _socket.socket, router: Router, limits: Limits | None = None):
        """Takes `listener` over (a `socket.socket` is one too)."""
        self.router = router
        self.limits = limits or Limits()
        self.socket = socket.socket(fileno=listener.detach())
        self.socket.setblocking(False)
        self.workers: Workers[Handler] = Workers(self._serve, self.limits.workers, self.limits.streams)
        self._selector = selectors.DefaultSelector()
        self._idle: dict[Handler, float] = {}  # idle connections, by the time they became idle (oldest first)
        self._returned: queue.SimpleQueue[Handler] = queue.SimpleQueue()  # back from the workers, to watch again
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._accept_paused_until = 0.0
        self._stopping = False
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        self._selector.register(self.socket, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stopping:
                for key, _ in self._selector.select(timeout=1.0):
                    try:
                        self._event(key)
                    except Exception:  # one connection's trouble must not stop the server
                        log.exception("serving the socket failed")
                self._expire_idle()
                if self._accept_paused_until and time.monotonic() >= self._accept_paused_until:
                    self._accept_paused_until = 0.0
                    self._selector.register(self.socket, selectors.EVENT_READ, "accept")
        finally:
            self._stopped.set()

    def _event(self, key: selectors.SelectorKey) -> None:
        if key.data == "accept":
            self._accept()
        elif key.data == "wake":
            self._take_returned()
        else:  # a request arrives on an idle connection
            self._selector.unregister(key.fileobj)
            del self._idle[key.data]
            self.workers.submit(key.data)

    def shutdown(self) -> None:
        """Stop serve_forever() (from another thread) and wait until it returned."""
        self._stopping = True
        self._wake()
        self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()
        for handler in list(self._idle):
            handler.close()
        self._idle.clear()
        self._selector.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.socket.accept()
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno not in _OUT_OF_FILES:
                    raise
                log.warning("cannot accept connections for now (%s): they wait in the backlog", e.strerror)
                self._selector.unregister(self.socket)
                self._accept_paused_until = time.monotonic() + 0.5
                return
            self._take(sock)

    def adopt(self, sock: _socket.socket) -> None:
        """Serve a connection accepted elsewhere (early.py's, before the server loaded) as one it accepted; only
        from the thread that runs serve_forever, or before it runs."""
        self._take(socket.socket(fileno=sock.detach()))

    def _take(self, sock: socket.socket) -> None:
        sock.settimeout(None)
        self._watch(Handler(sock, self))

    def _watch(self, handler: Handler) -> None:
        self._idle[handler] = time.monotonic()
        self._selector.register(handler.connection, selectors.EVENT_READ, handler)

    def _take_returned(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                self._watch(self._returned.get_nowait())
            except queue.Empty:
                return

    def _expire_idle(self) -> None:
        """Close the keep-alive connections idle for longer than the limit (the oldest come first)."""
        now = time.monotonic()
        for handler, since in list(self._idle.items()):
            if now - since < self.limits.idle:
                return
            self._selector.unregister(handler.connection)
            del self._idle[handler]
            handler.close()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except BlockingIOError:
            pass  # a wake-up is pending already

    def _serve(self, handler: Handler) -> None:
        """On a worker: one request, then the connection goes back to the selector (or on, when the client sent
        its next request already)."""
        handler.serve_one()
        if handler.close_connection:
            handler.close()
        elif handler.pending():
            self.workers.submit(handler)
        else:
            self._returned.put(handler)
            self._wake()
