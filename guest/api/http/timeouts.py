"""How long a client may keep the agent waiting: the time limits of a connection and its reads."""

from __future__ import annotations

import io
import select
import socket
import time
from typing import Any, NamedTuple


class Limits(NamedTuple):
    """The server's limits (seconds, counts, bytes)."""

    read: float = 60.0  # the request's head as a whole; each wait for body bytes; a client taking a whole response
    idle: float = 120.0  # a keep-alive connection without a request (Go clients drop theirs after 90 s)
    workers: int = 64  # requests served at once
    streams: int = 1024  # long-lived streams at once (attach, exec, logs -f, events, stats, wait, progress)
    drain: int = 256 << 10  # body bytes a handler left unread, read and dropped to keep the connection (as Go)


def readable(sock: socket.socket, timeout: float) -> bool:
    """Whether `sock` has something to read (data or its end) within `timeout` seconds (poll: any fd number)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000))))


class TimedReader(io.RawIOBase):
    """A connection's reads, each within a limit: a `deadline` (the request's head must arrive by then) or a
    `timeout` for each wait (the body); neither once the connection is hijacked (stdin may idle for hours).
    A read that runs out of time raises socket.timeout and sets `timed_out`."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.deadline: float | None = None
        self.timeout: float | None = None
        self.timed_out = False
        self.peeking = False  # reads return None instead of waiting (is a next request already there?)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int | None:
        if self.peeking:
            try:
                return self.sock.recv_into(buf, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return None
        wait = self.timeout if self.deadline is None else self.deadline - time.monotonic()
        if wait is not None and not readable(self.sock, wait):
            self.timed_out = True
            raise socket.timeout("timed out waiting for the client")
        return self.sock.recv_into(buf)
