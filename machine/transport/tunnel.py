"""The tunnel: one SSH connection per machine, carrying the local docker socket to the agent's socket.

Each connection accepted on the local socket becomes a direct-streamlocal channel to the agent.
When SSH drops, the tunnel reconnects with backoff; a client arriving during the outage waits a
little, then gets an HTTP 503 with a message saying what happened, instead of a bare EOF.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paramiko

from .relay import between
from .streamlocal import open_streamlocal

log = logging.getLogger("machine.tunnel")

Connect = Callable[[], paramiko.Transport]

_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)


class Unavailable(Exception):
    """SSH to the machine is down and did not come back within the wait."""


class Link:
    """The machine's SSH transport, reconnected with backoff when it drops."""

    def __init__(self, connect: Connect, outage_wait: float = 10.0):
        self._connect = connect
        self._outage_wait = outage_wait
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None
        self._down = False
        self.last_error = ""

    def transport(self) -> paramiko.Transport:
        """A live transport, reconnecting (with backoff, up to the outage wait) if needed."""
        attempt = 0
        with self._lock:
            # once an outage outlasted the wait, later callers get one quick attempt instead of waiting again
            deadline = time.monotonic() + (0 if self._down else self._outage_wait)
            while self._transport is None or not self._transport.is_active():
                try:
                    self._transport = self._connect()
                    if attempt or self._down:
                        log.info("SSH reconnected after %d attempt(s)", attempt)
                    self._down = False
                except Exception as e:  # any failure to connect is retried until the deadline
                    self.last_error = str(e) or type(e).__name__
                    delay = _BACKOFF[min(attempt, len(_BACKOFF) - 1)]
                    attempt += 1
                    log.warning("SSH connect failed (%s); retrying in %.1fs", self.last_error, delay)
                    if time.monotonic() + delay > deadline:
                        self._down = True
                        raise Unavailable(self.last_error) from None
                    time.sleep(delay)
            return self._transport

    def open_unix(self, path: str) -> paramiko.Channel:
        return self._open(lambda t: open_streamlocal(t, path))

    def open_tcp(self, host: str, port: int) -> paramiko.Channel:
        return self._open(lambda t: t.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=10))

    def _open(self, opener: Callable[[paramiko.Transport], paramiko.Channel]) -> paramiko.Channel:
        transport = self.transport()
        try:
            return opener(transport)
        except (paramiko.SSHException, EOFError, OSError):
            if transport.is_active():
                raise
            return opener(self.transport())  # the link dropped under us: one retry on a fresh one

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None


def _unavailable_response(machine: str, reason: str) -> bytes:
    body = (
        f'{{"message": "machine {machine}: the SSH connection is down ({reason}). '
        f'Check the machine with `machine status {machine}`; the tunnel keeps retrying."}}\n'
    ).encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def _answer_and_close(conn: socket.socket, response: bytes) -> None:
    """Send `response` after reading the request's head, so closing does not reset the connection."""
    try:
        conn.settimeout(2)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = conn.recv(65536)
            if not chunk:
                break
            head += chunk
        conn.sendall(response)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass
    except OSError:
        pass
    finally:
        conn.close()


class SocketForwarder:
    """Serves `local` and forwards each connection to the agent's socket.

    `local` is a unix socket (0600), or with `tcp` (Windows, which has no unix sockets for the docker CLI)
    a file holding the port of a listener on 127.0.0.1."""

    def __init__(self, machine: str, link: Link, local: Path, agent_socket: str, tcp: bool = False):
        self.machine = machine
        self.link = link
        self.local = local
        self.agent_socket = agent_socket
        self.tcp = tcp
        self._listener: socket.socket | None = None

    def listen(self) -> None:
        """Serve `local`; it appears only once it accepts connections (it is renamed into place), so a
        client that finds it is never refused."""
        tmp = self.local.with_name(f".{self.local.name}.tmp")
        tmp.unlink(missing_ok=True)
        if self.tcp:
            listener = socket.create_server(("127.0.0.1", 0), backlog=64)
            tmp.write_text(str(listener.getsockname()[1]))
        else:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)
            try:
                listener.bind(str(tmp))
            finally:
                os.umask(old)
            listener.listen(64)
        os.replace(tmp, self.local)
        self._listener = listener

    def serve_forever(self) -> None:
        assert self._listener is not None, "call listen() first"
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            chan = self.link.open_unix(self.agent_socket)
        except (Unavailable, paramiko.SSHException, EOFError, OSError) as e:
            log.warning("cannot reach the agent: %s", e)
            _answer_and_close(conn, _unavailable_response(self.machine, str(e)))
            return
        between(conn, chan)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        try:
            self.local.unlink()
        except FileNotFoundError:
            pass
