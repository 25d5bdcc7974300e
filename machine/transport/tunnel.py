"""The tunnel: one SSH connection per machine, carrying the local docker socket to the agent's socket.

Each connection accepted on the local socket becomes a direct-streamlocal channel to the agent.
When SSH drops, the tunnel reconnects with backoff; a client arriving during the outage waits a
little, then gets an HTTP 503 with a message saying what happened, instead of a bare EOF.

While the machine's state is saved the link is held: its connection is kept, with nothing sent on it,
so that the resumed machine is reached again without a new SSH handshake.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import paramiko

from .relay import between
from .streamlocal import open_streamlocal

log = logging.getLogger("machine.tunnel")

Connect = Callable[[], paramiko.Transport]
Resumed = Callable[[paramiko.Transport], None]

_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)


class Unavailable(Exception):
    """SSH to the machine is down and did not come back within the wait."""


class Held(Unavailable):
    """The machine's state is saved (Link.hold): nothing reaches it until it is resumed."""


class Link:
    """The machine's SSH transport, reconnected with backoff when it drops.

    The log (the tunnel's `tunnel.log`) tells an outage afterwards: each connect, drop, failed attempt and
    reconnect, with its time."""

    def __init__(self, connect: Connect, on_resume: Resumed, resumed: bool = False, outage_wait: float = 10.0):
        """`on_resume` brings a resumed machine up to date (its clock); it runs on the connection before any other
        use after release(), or from the start with `resumed`. It raises if that connection does not work."""
        self._connect = connect
        self._on_resume = on_resume
        self._resume_pending = resumed
        self._outage_wait = outage_wait
        self._lock = threading.Lock()
        self._held = ""  # why, while held
        self._channels: weakref.WeakSet[paramiko.Channel] = weakref.WeakSet()  # those opened for clients
        self._transport: paramiko.Transport | None = None
        self._down = False
        self._down_since: float | None = None  # when the link was found down (a drop or a failed connect)
        self._attempts = 0  # failed attempts in the current outage
        self._peer = "the machine"  # host:port of the last connection, for the log
        self.last_error = ""

    def is_up(self) -> bool:
        """Whether the transport is connected now (no connection is attempted)."""
        transport = self._transport
        return transport is not None and transport.is_active()

    @property
    def held(self) -> bool:
        return bool(self._held)

    def hold(self, why: str) -> None:
        """The machine's state is about to be saved: close the channels opened for clients (while the machine still
        takes their ends), then keep the connection with nothing sent on it, which would stall, unanswered, until
        the resume. Every use fails at once with Held(why) until release()."""
        with self._lock:
            self._held = why
            for channel in list(self._channels):
                channel.close()

    def release(self) -> None:
        """The machine was resumed: the next use runs `on_resume` first, on the kept connection if it still works
        (the usual case: no handshake), else on a new one."""
        with self._lock:
            self._held, self._resume_pending = "", True

    def transport(self) -> paramiko.Transport:
        """A live transport, reconnecting (with backoff, up to the outage wait) if needed."""
        with self._lock:
            if self._held:
                raise Held(self._held)
            transport = self._live()
            if self._resume_pending:
                try:
                    self._on_resume(transport)
                except Exception as e:  # the kept connection did not survive the save: resume on a new one
                    log.warning("SSH connection to %s did not survive the resume (%s): reconnecting", self._peer, e)
                    transport.close()
                    transport = self._live()
                    self._resumed_on(transport)
                self._resume_pending = False
            return transport

    def _resumed_on(self, transport: paramiko.Transport) -> None:
        """on_resume on a new connection: a failure is logged, the connection is used all the same."""
        try:
            self._on_resume(transport)
        except Exception as e:
            log.warning("cannot bring the resumed machine up to date: %s", e)

    def _live(self) -> paramiko.Transport:
        """The transport, reconnected first if it is not active; the caller holds the lock."""
        # once an outage outlasted the wait, later callers get one quick attempt instead of waiting again
        deadline = time.monotonic() + (0 if self._down else self._outage_wait)
        while self._transport is None or not self._transport.is_active():
            if self._transport is not None:
                log.warning("SSH connection to %s dropped", self._peer)
                self._transport, self._down_since = None, time.monotonic()
            try:
                self._transport = self._connect()
            except Exception as e:  # any failure to connect is retried until the deadline
                self._failed(e, deadline)
                continue
            self._connected(self._transport)
        return self._transport

    def _connected(self, transport: paramiko.Transport) -> None:
        try:
            host, port = transport.getpeername()[:2]
            self._peer = f"{host}:{port}"
        except OSError:
            pass
        if self._down_since is None:
            log.info("SSH connected to %s", self._peer)
        else:
            log.info(
                "SSH reconnected to %s after %d failed attempt%s (down %.1fs)",
                self._peer,
                self._attempts,
                "" if self._attempts == 1 else "s",
                time.monotonic() - self._down_since,
            )
        self._down, self._down_since, self._attempts = False, None, 0

    def _failed(self, error: Exception, deadline: float) -> None:
        """Log a failed attempt; sleep before the next one, or raise Unavailable past the deadline."""
        self.last_error = str(error) or type(error).__name__
        if self._down_since is None:
            self._down_since = time.monotonic()
        delay = _BACKOFF[min(self._attempts, len(_BACKOFF) - 1)]
        self._attempts += 1
        if time.monotonic() + delay > deadline:
            if not self._down:
                log.warning(
                    "SSH connect attempt %d failed (%s); still down after %.1fs: clients get an error "
                    "until a later attempt succeeds",
                    self._attempts,
                    self.last_error,
                    time.monotonic() - self._down_since,
                )
            else:
                log.warning("SSH connect attempt %d failed (%s)", self._attempts, self.last_error)
            self._down = True
            raise Unavailable(self.last_error) from None
        log.warning("SSH connect attempt %d failed (%s); retrying in %.1fs", self._attempts, self.last_error, delay)
        time.sleep(delay)

    def open_unix(self, path: str) -> paramiko.Channel:
        return self._open(lambda t: open_streamlocal(t, path))

    def open_tcp(self, host: str, port: int) -> paramiko.Channel:
        return self._open(lambda t: t.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=10))

    def _open(self, opener: Callable[[paramiko.Transport], paramiko.Channel]) -> paramiko.Channel:
        """A channel for a client (hold() closes it)."""
        transport = self.transport()
        try:
            channel = opener(transport)
        except (paramiko.SSHException, EOFError, OSError):
            if transport.is_active():
                raise
            channel = opener(self.transport())  # the link dropped under us: one retry on a fresh one
        with self._lock:
            if self._held:  # held meanwhile
                channel.close()
                raise Held(self._held)
            self._channels.add(channel)
        return channel

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None


def _unavailable_response(machine: str, error: Exception) -> bytes:
    reason = str(error).rstrip(". ")
    if isinstance(error, Held):
        message = f"machine {machine} is stopped ({reason}): start it with `machine start {machine}`"
    else:
        message = (
            f"machine {machine}: the SSH connection is down ({reason}); the tunnel keeps retrying. "
            f"If the machine is stopped, start it with `machine start {machine}`"
        )
    body = json.dumps({"message": message}).encode() + b"\n"
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
            if not isinstance(e, Held):  # held: the machine is saved, as its client is told
                log.warning("cannot reach the agent: %s", e)
            _answer_and_close(conn, _unavailable_response(self.machine, e))
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
