"""While the server loads: /_ping answered on the listening socket from the moment the agent listens.

Under TCG, loading the server's modules (and the stdlib they need: logging, json, re, typing, urllib) takes as
long again as Python's own start. Meanwhile `serve_until` answers the pings, the way the server would, but closes
each connection after the answer; every other request waits, unread, and goes to the server once it is loaded.
It imports only what the socket and the answer need: `_socket`, not `socket` (whose enums and selectors took
0.17 s under TCG at boot), and `_thread`, not `threading` (see Early).
"""

from __future__ import annotations

import _socket
import _thread
import io
import os
import select

from . import response_head, versions
from .errors import HttpError
from .head import read_head

PING_TYPE = "text/plain; charset=utf-8"
PING_BODY = b"OK"
PEEK = 8192  # bytes of a connection's first request looked at; a longer head waits for the server


def ping_headers() -> dict[str, str]:
    return {"Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


class Early:
    """serve_until on a thread of its own while the main thread loads the server, until end().

    The thread is started with `_thread`: the main thread must be the one that imports `threading` (while it loads
    the server), because `threading` takes the thread that imports it first for the main thread."""

    def __init__(self, listener: _socket.socket):
        self._stop_r, self._stop_w = os.pipe()
        self._done = _thread.allocate_lock()
        self._done.acquire()
        self._held: list[_socket.socket] = []
        self._error: BaseException | None = None
        _thread.start_new_thread(self._serve, (listener,))

    def _serve(self, listener: _socket.socket) -> None:
        try:
            self._held = serve_until(listener, self._stop_r)
        except BaseException as e:  # raised again in end(), on the main thread
            self._error = e
        finally:
            self._done.release()

    def end(self) -> list[_socket.socket]:
        """Stop answering; the connections held for the server (see serve_until)."""
        os.write(self._stop_w, b"\0")
        self._done.acquire()
        os.close(self._stop_r)
        os.close(self._stop_w)
        if self._error is not None:
            raise self._error
        return self._held


def serve_until(listener: _socket.socket, stop: int) -> list[_socket.socket]:
    """Answer /_ping on `listener` until the file descriptor `stop` is readable; then the connections that
    asked for something else, or nothing yet, for the server to serve (their requests unread)."""
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    poller.register(stop, select.POLLIN)
    fresh: dict[int, _socket.socket] = {}  # accepted, nothing sent yet
    held: list[_socket.socket] = []
    while True:
        for fd, _ in poller.poll():
            if fd == stop:
                return held + list(fresh.values())
            if fd == listener.fileno():
                for sock in _accept_all(listener):
                    fresh[sock.fileno()] = sock
                    poller.register(sock, select.POLLIN)
            else:
                sock = fresh.pop(fd)
                poller.unregister(fd)
                if not _answer_ping(sock):
                    held.append(sock)


def _accept_all(listener: _socket.socket) -> list[_socket.socket]:
    accepted: list[_socket.socket] = []
    while True:
        try:
            fd, _ = listener._accept()  # type: ignore[attr-defined]  # what socket.accept wraps
        except OSError:  # none left (BlockingIOError), or out of files: the rest wait in the backlog
            return accepted
        sock = _socket.socket(listener.family, listener.type, listener.proto, fd)
        sock.setblocking(False)
        accepted.append(sock)


def _answer_ping(sock: _socket.socket) -> bool:
    """Answer and close when what the client sent is a whole ping (GET or HEAD /_ping, no body); False for
    anything else, left unread."""
    try:
        data = sock.recv(PEEK, _socket.MSG_PEEK)
    except OSError:
        data = b""
    if not data:  # gone already
        sock.close()
        return True
    end = data.find(b"\r\n\r\n") + 4
    method = _ping_method(data[:end]) if end >= 4 else None
    if method is None:
        return False
    try:
        sock.recv(end)  # the head and nothing after it: closing with nothing unread, the client gets the answer
        sock.settimeout(1.0)
        sock.sendall(_ping_answer(head_only=method == "HEAD"))
    except OSError:
        pass  # the client went away
    sock.close()
    return True


def _ping_method(head_bytes: bytes) -> str | None:
    """GET or HEAD when `head_bytes` is a request for /_ping without a body, else None."""
    try:
        head = read_head(io.BytesIO(head_bytes))
        if head is None:
            return None
        version, path = versions.split(head.target)
        if version:
            versions.check(version)
    except HttpError:  # the server will say what is wrong
        return None
    fields = head.headers
    framed = fields.get("Content-Length", "0") != "0" or fields.get("Transfer-Encoding") is not None
    if path != "/_ping" or head.method not in ("GET", "HEAD") or framed or fields.get("Expect") is not None:
        return None
    return head.method


def _ping_answer(head_only: bool) -> bytes:
    headers = {
        **ping_headers(),
        "Content-Type": PING_TYPE,
        "Content-Length": str(len(PING_BODY)),
        "Connection": "close",
    }
    return response_head.encode(200, "OK", headers) + (b"" if head_only else PING_BODY)
