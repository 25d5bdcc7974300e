"""http/early.py on a real unix socket: while the server loads, pings are answered as the server answers them, and
every other connection goes to the server with its request unread, which then answers it."""

from __future__ import annotations

import _socket
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from guest.api import ping
from guest.api.http import early
from guest.api.http.listener import listen
from guest.api.http.request import Request
from guest.api.http.responses import Response, json_response
from guest.api.http.router import Router
from guest.api.http.server import Server
from tests.support.http import Answer, call


class Phase:
    """The early phase on a socket of its own, then (end()) the server taking over what it held."""

    def __init__(self, path: Path):
        self.path = path
        self.listener = listen(str(path))
        self.held: list[_socket.socket] | None = None
        self.server: Server | None = None
        self._early = early.Early(self.listener)

    def end(self) -> int:
        """Hand over to a server (the real /_ping route and GET /info): how many connections it was handed."""
        self.held = self._early.end()
        router = Router()
        ping.register(router)

        @router.route("GET", "/info")
        def info(req: Request) -> Response:
            return json_response({"Served": "by the server"})

        self.server = Server(self.listener, router)
        for sock in self.held:
            self.server.adopt(sock)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return len(self.held)

    def close(self) -> None:
        if self.held is None:
            for sock in self._early.end():
                sock.close()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        else:
            self.listener.close()


@pytest.fixture
def phase(tmp_path: Path) -> Iterator[Phase]:
    started = Phase(tmp_path / "api.sock")
    try:
        yield started
    finally:
        started.close()


def raw_exchange(path: Path, *pieces: bytes) -> socket.socket:
    """A connection that sent `pieces` (the caller reads the answer)."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(30)
    sock.connect(str(path))
    for piece in pieces:
        sock.sendall(piece)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def without_date(answer: Answer) -> dict[str, str]:
    return {name: value for name, value in answer.headers.items() if name != "Date"}


def test_a_ping_is_answered_as_the_server_answers_it_then_the_connection_closes(phase: Phase) -> None:
    first = call(phase.path, "GET", "/_ping")
    headless = call(phase.path, "HEAD", "/v1.45/_ping")
    assert phase.end() == 0
    served = call(phase.path, "GET", "/_ping")
    assert first.status == headless.status == served.status == 200
    assert first.body == served.body == b"OK" and headless.body == b""
    assert without_date(first) == {**without_date(served), "Connection": "close"}
    assert without_date(headless) == without_date(first)


def test_a_client_that_goes_on_after_its_ping_is_served_on_a_new_connection(phase: Phase) -> None:
    """As the docker CLI does: /_ping, then its request. The ping's connection closes; the next one waits."""
    ping_then_more = raw_exchange(phase.path, b"GET /_ping HTTP/1.1\r\nHost: agent\r\n\r\n")
    answer = read_answer(ping_then_more)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: close\r\n" in answer
    assert answer.endswith(b"\r\n\r\nOK")
    waiting = raw_exchange(phase.path, b"GET /info HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
    call(phase.path, "GET", "/_ping")  # answered after the early loop saw /info's request (one poll at a time)
    assert phase.end() == 1
    assert b'{"Served": "by the server"}' in read_answer(waiting)


@pytest.mark.parametrize(
    "sent,rest,status",
    [
        (b"POST /_ping HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", b"", b"405"),
        (b"GET /_ping HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", b"", b"200"),
        (b"GET /v1.99/_ping HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", b"", b"400"),
        (b"GET /_ping?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", b"", b"200"),
        (b"GET /_ping HTTP/1.1\r\nHost: a\r\n", b"Connection: close\r\n\r\n", b"200"),
        (b"GET /_ping HTTP/9.9\r\n\r\n", b"", b"505"),
    ],
    ids=["post", "with-a-body", "version-too-new", "query", "head-in-two-pieces", "bad-protocol"],
)
def test_what_is_not_a_whole_plain_ping_waits_for_the_server(
    phase: Phase, sent: bytes, rest: bytes, status: bytes
) -> None:
    """Held (the server is handed the connection), then answered by the server, the rest sent only then."""
    sock = raw_exchange(phase.path, sent)
    call(phase.path, "GET", "/_ping")
    assert phase.end() == 1
    if rest:  # a whole request may be answered, and its connection closed, before this line runs
        sock.sendall(rest)
    answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 " + status + b" ") and b"\r\nConnection: close\r\n" in answer


def test_connections_that_send_nothing_go_to_the_server_and_those_gone_are_dropped(phase: Phase) -> None:
    idle = raw_exchange(phase.path)
    gone = raw_exchange(phase.path)
    gone.close()
    call(phase.path, "GET", "/_ping")
    assert phase.end() == 1
    idle.sendall(b"GET /info HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert b'{"Served": "by the server"}' in read_answer(idle)


def test_a_failure_of_the_early_thread_is_raised_again_where_the_server_loads(tmp_path: Path) -> None:
    listener = listen(str(tmp_path / "api.sock"))
    listener.close()  # the early thread cannot watch a closed socket
    answering = early.Early(listener)
    with pytest.raises(ValueError):
        answering.end()
