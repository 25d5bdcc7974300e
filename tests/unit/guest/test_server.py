"""The API server under load and with clients that stall: real connections on a unix socket to the real server,
with a few routes of its own (a short request, an echo, a stream, a hijacked session)."""

from __future__ import annotations

import http.client
import io
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guest.api.http.listener import listen
from guest.api.http.request import Request
from guest.api.http.responses import Response
from guest.api.http.router import Router
from guest.api.http.server import Server
from guest.api.http.timeouts import Limits
from guest.errors import InvalidInput


def _router() -> Router:
    router = Router()

    @router.route("GET", "/_ping")
    def ping(req: Request) -> Response:
        return Response(200, b"OK", content_type="text/plain")

    @router.route("POST", "/echo")
    def echo(req: Request) -> Response:
        return Response(200, req.body(), content_type="application/octet-stream")

    @router.route("POST", "/refuse")
    def refuse(req: Request) -> Response:
        raise InvalidInput("refused before reading the body")

    @router.route("GET", "/stream")
    def stream(req: Request) -> Response:
        def ticks() -> Iterator[bytes]:
            yield b"tick\n"
            while True:
                time.sleep(0.05)
                yield b""  # a heartbeat: the server notices a client that went away

        return Response(200, stream=ticks())

    @router.route("POST", "/hijack")
    def hijack(req: Request) -> None:
        conn = req.hijack()
        while data := conn.read():
            conn.write(data)
        conn.close_write()

    return router


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    """serve(limits) -> a running server on a socket of its own (stopped at the end)."""
    servers: list[Server] = []

    def start(limits: Limits | None = None) -> Server:
        server = Server(listen(str(tmp_path / f"api{len(servers)}.sock")), _router(), limits=limits)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class _KeepOpen(io.BufferedReader):
    """The connection's reads, left open by each response read from them."""

    def close(self) -> None:
        pass


class Client:
    """A raw HTTP/1.1 connection to the server: requests as bytes, responses parsed by http.client."""

    def __init__(self, server: Server, timeout: float = 60):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(server.socket.getsockname())
        self.fp = _KeepOpen(socket.SocketIO(self.sock, "rb"))

    def makefile(self, mode: str, *args: object) -> io.BufferedReader:
        return self.fp

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> http.client.HTTPResponse:
        response = http.client.HTTPResponse(self)  # type: ignore[arg-type]
        response.begin()
        return response

    def ask(self, request: bytes) -> http.client.HTTPResponse:
        """Send a request and read its whole response (the connection stays usable)."""
        self.send(request)
        response = self.response()
        response.read()
        return response

    def rest(self) -> bytes:
        """Everything the server still sends until it closes the connection (a reset when it left bytes unread)."""
        data = b""
        try:
            while chunk := self.fp.read1(65536):
                data += chunk
        except ConnectionResetError:
            pass
        return data

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


PING = b"GET /_ping HTTP/1.1\r\nHost: agent\r\n\r\n"


def test_many_simultaneous_connects_are_all_answered(serve) -> None:
    server = serve()
    clients = [Client(server) for _ in range(200)]  # all in the backlog before any request
    try:
        for sock in clients:
            assert sock.ask(PING).status == 200
    finally:
        for sock in clients:
            sock.close()


def test_idle_connections_take_no_thread(serve) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if min(hard, 10000) < 2600:
        pytest.skip("too few open files allowed for 1,000 connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 10000), hard))
    server = serve(Limits(workers=8))
    before = threading.active_count()
    clients = [Client(server) for _ in range(1000)]
    try:
        for sock in clients[:500]:  # kept alive after a request, as docker-py's pool keeps them
            assert sock.ask(PING).status == 200
        with Client(server) as last:  # accepted after all the others
            assert last.ask(PING).status == 200
        assert threading.active_count() - before <= 8
        assert server.workers.threads[0] <= 8
    finally:
        for sock in clients:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_long_lived_streams_leave_the_pool(serve) -> None:
    server = serve(Limits(workers=2))
    streams = [Client(server) for _ in range(6)]
    sessions = [Client(server) for _ in range(3)]
    try:
        for sock in streams:
            sock.send(b"GET /stream HTTP/1.1\r\nHost: agent\r\n\r\n")
            assert sock.response().status == 200 and sock.fp.read1(4096) == b"5\r\ntick\n\r\n"
        for sock in sessions:
            sock.send(b"POST /hijack HTTP/1.1\r\nHost: agent\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
            assert sock.response().status == 101
        with Client(server) as short:  # 9 streams, 2 workers: short requests are still served
            assert short.ask(PING).status == 200
        assert server.workers.threads == (1, 9) or server.workers.threads == (2, 9)
        sessions[0].send(b"still there?")
        assert sessions[0].fp.read1(4096) == b"still there?"
    finally:
        for sock in streams + sessions:
            sock.close()


def test_too_many_streams_are_refused_with_a_503(serve) -> None:
    server = serve(Limits(workers=2, streams=2))
    streams = [Client(server) for _ in range(2)]
    try:
        for sock in streams:
            sock.send(b"GET /stream HTTP/1.1\r\nHost: agent\r\n\r\n")
            assert sock.response().status == 200 and sock.fp.read1(4096) == b"5\r\ntick\n\r\n"
        with Client(server) as third:
            response = third.ask(b"GET /stream HTTP/1.1\r\nHost: agent\r\n\r\n")
            assert response.status == 503
            assert third.ask(PING).status == 200
    finally:
        for sock in streams:
            sock.close()


def test_a_half_sent_body_does_not_hold_a_worker(serve) -> None:
    server = serve(Limits(read=0.5, workers=1))
    with Client(server) as stalled:
        stalled.send(b"POST /echo HTTP/1.1\r\nHost: agent\r\nContent-Length: 100\r\n\r\nonly ten..")
        answer = stalled.rest()  # the server gives up and closes
    assert answer.startswith(b"HTTP/1.1 408") and b"Connection: close" in answer
    with Client(server) as next_client:  # the only worker is free again
        assert next_client.ask(PING).status == 200


def test_a_half_sent_head_is_closed(serve) -> None:
    server = serve(Limits(read=0.5, workers=1))
    with Client(server) as stalled:
        stalled.send(b"GET /_ping HTTP/1.1\r\nHost: ag")
        assert stalled.rest() == b""
    with Client(server) as next_client:
        assert next_client.ask(PING).status == 200


def test_an_idle_keep_alive_connection_is_closed(serve) -> None:
    server = serve(Limits(idle=0.5))
    with Client(server) as sock:
        assert sock.ask(PING).status == 200
        assert sock.rest() == b""


@pytest.mark.parametrize(
    "request_line, body",
    [
        (b"POST /nosuch HTTP/1.1", b'{"a": 1}'),  # 404
        (b"PUT /_ping HTTP/1.1", b"0123456789"),  # 405
        (b"POST /refuse HTTP/1.1", b"not read by the handler"),  # 400 from the handler
        (b"POST /v1.99/echo HTTP/1.1", b"x" * 5000),  # 400 bad version
    ],
)
def test_an_error_leaves_the_connection_usable(serve, request_line: bytes, body: bytes) -> None:
    server = serve()
    with Client(server) as sock:
        head = request_line + b"\r\nHost: agent\r\nContent-Length: %d\r\n\r\n" % len(body)
        assert sock.ask(head + body).status >= 400
        assert sock.ask(PING).status == 200  # read from the next request's start, not from the body


def test_an_unread_chunked_body_is_drained(serve) -> None:
    server = serve()
    with Client(server) as sock:
        request = b"POST /nosuch HTTP/1.1\r\nHost: agent\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        assert sock.ask(request).status == 404
        assert sock.ask(PING).status == 200


def test_a_large_unread_body_is_answered_then_the_connection_closed(serve) -> None:
    server = serve()
    body = b"x" * (4 << 20)
    errors: list[OSError] = []
    with Client(server) as sock:

        def send() -> None:
            try:
                sock.send(b"POST /nosuch HTTP/1.1\r\nHost: agent\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            except OSError as e:
                errors.append(e)

        sender = threading.Thread(target=send)
        sender.start()
        response = sock.response()
        assert response.status == 404 and response.getheader("Connection") == "close"
        sender.join(60)
        assert errors == []  # the server read the rest before closing: no broken pipe hides the answer
        response.read()
        assert sock.rest() == b""


def test_pipelined_requests_are_answered_in_order(serve) -> None:
    server = serve()
    with Client(server) as sock:
        sock.send(PING + b"POST /echo HTTP/1.1\r\nHost: agent\r\nContent-Length: 5\r\n\r\nhello" + PING)
        replies = []
        for _ in range(3):
            response = sock.response()
            replies.append((response.status, response.read()))
        assert replies == [(200, b"OK"), (200, b"hello"), (200, b"OK")]


def test_a_request_for_a_route_not_yet_added_waits_for_the_routes(tmp_path: Path) -> None:
    """The agent serves /_ping before its other routes are loaded: a request for one of those waits until they
    are added and is then answered by it; once the router is complete, an unknown route is a 404 at once."""
    router = Router(complete=False)

    @router.route("GET", "/_ping")
    def ping(req: Request) -> Response:
        return Response(200, b"OK", content_type="text/plain")

    server = Server(listen(str(tmp_path / "api.sock")), router)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert Client(server).ask(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        waiting = Client(server)
        waiting.send(b"GET /v1.41/later HTTP/1.1\r\nHost: x\r\n\r\n")
        waiting.sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            waiting.sock.recv(1, socket.MSG_PEEK)  # no answer while the route is missing
        waiting.sock.settimeout(60)

        @router.route("GET", "/later")
        def later(req: Request) -> Response:
            return Response(200, b"loaded", content_type="text/plain")

        router.complete.set()
        response = waiting.response()
        assert response.status == 200 and response.read() == b"loaded"
        assert Client(server).ask(b"GET /unknown HTTP/1.1\r\nHost: x\r\n\r\n").status == 404
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("head", "status", "message"),
    [
        (b"GET /_ping\r\n\r\n", 400, "bad request line"),
        (b"GET  /_ping HTTP/1.1\r\n\r\n", 400, "bad request line"),
        (b"GET /_ping HTTP/x.1\r\n\r\n", 400, "bad HTTP version"),
        (b"GET /_ping HTTP/1.\xb2\r\n\r\n", 400, "bad HTTP version"),
        (b"GET /_ping HTTP/2.0\r\n\r\n", 505, "not supported"),
        (b"PATCH /_ping HTTP/1.1\r\n\r\n", 501, "unsupported method"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414, "request line is too long"),
        (b"GET /_ping HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431, "header line is too long"),
        (b"GET /_ping HTTP/1.1\r\n" + b"X: 1\r\n" * 101 + b"\r\n", 431, "more than 100 header fields"),
        (b"GET /_ping HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, "bad header line"),
        (b"GET /_ping HTTP/1.1\r\nNo colon\r\n\r\n", 400, "bad header line"),
        (b"GET /_ping HTTP/1.1\r\nName : value\r\n\r\n", 400, "bad header line"),
    ],
)
def test_a_malformed_request_head_gets_its_status_and_the_connection_closes(
    serve, head: bytes, status: int, message: str
) -> None:
    server = serve()
    with Client(server) as client:
        client.send(head)
        response = client.response()
        body = response.read()
        assert response.status == status and message in body.decode()
        assert response.getheader("Connection") == "close" and response.getheader("Content-Type") == "application/json"
        assert client.rest() == b""
    with Client(server) as client:  # the server goes on
        assert client.ask(PING).status == 200


def test_request_heads_as_http_1_x_clients_send_them(serve) -> None:
    """Names in any case, HTTP/1.0 (closed after the answer unless kept alive), an empty line before a request,
    `Expect: 100-continue` (the body sent once the server says so), and what every answer carries."""
    server = serve()
    with Client(server) as client:
        response = client.ask(b"\r\nGET /_ping HTTP/1.1\r\nhOsT: agent\r\n\r\n")
        assert response.status == 200 and response.reason == "OK"
        assert response.getheader("Api-Version") and response.getheader("Server").startswith("machine-agent/")
        assert response.getheader("Date").endswith(" GMT") and response.getheader("Connection") is None
        client.send(b"POST /echo HTTP/1.1\r\ncontent-LENGTH: 5\r\nExpect: 100-continue\r\n\r\n")
        assert client.fp.readline() == b"HTTP/1.1 100 Continue\r\n" and client.fp.readline() == b"\r\n"
        client.send(b"hello")
        response = client.response()
        assert response.status == 200 and response.read() == b"hello"
    with Client(server) as client:
        response = client.ask(b"GET /_ping HTTP/1.0\r\n\r\n")
        assert response.status == 200 and response.getheader("Connection") == "close" and client.rest() == b""
    with Client(server) as client:
        assert client.ask(b"GET /_ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").status == 200
        assert client.ask(PING).status == 200  # the connection stayed open
    with Client(server) as client:
        response = client.ask(b"GET /missing HTTP/1.1\r\n\r\n")
        assert response.status == 404 and response.reason == "Not Found"
