"""Reaching the TCP port of a host that is still booting, with attempts that overlap.

A booting VM answers a SYN at once or not at all: until its address is up, the SYN is lost (no ARP reply yet, or
the guest drops it), and the kernel sends it again only 1 s later. One attempt at a time therefore found the port
up to a second after it listened (0.4-1 s measured on machine start). Here a new attempt starts every `every`
seconds while the older ones wait on, each up to `patience` seconds (a slow link still gets its answer); one
that is refused (the address is up, the server not yet) ends at once. The first attempt to connect wins, and the
others are closed: one still waiting for its SYN's answer never becomes a connection the server sees.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys
import time
from collections.abc import Callable

EVERY = 0.2  # seconds between attempts
PATIENCE = 3.0  # seconds an attempt waits for its answer


def _error(code: int) -> OSError:
    """The error a blocking connect would have raised for `code` (SO_ERROR), with its message."""
    if sys.platform == "win32":
        import ctypes

        return OSError(code, ctypes.FormatError(code))  # Windows words its socket errors itself
    return OSError(code, os.strerror(code))


def first_connection(
    host: str,
    port: int,
    timeout: float,
    failed: Callable[[OSError], None] = lambda e: None,
    every: float = EVERY,
    patience: float = PATIENCE,
) -> socket.socket:
    """A blocking socket connected to host:port, from attempts started every `every` seconds (cycling through the
    host's addresses); `failed` hears of each attempt that failed. Raises the last attempt's OSError once
    `timeout` seconds have passed."""
    addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    deadline = time.monotonic() + timeout
    pending: dict[socket.socket, float] = {}  # attempt -> when it gives up
    last: OSError = TimeoutError("timed out")
    started, next_start = 0, time.monotonic()

    def fail(attempt: socket.socket, error: OSError) -> None:
        nonlocal last
        pending.pop(attempt, None)
        attempt.close()
        last = error
        failed(error)

    with selectors.DefaultSelector() as selector:
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    raise last
                if now >= next_start:
                    family, kind, proto, _, address = addresses[started % len(addresses)]
                    started, next_start = started + 1, now + every
                    attempt = socket.socket(family, kind, proto)
                    attempt.setblocking(False)
                    try:
                        attempt.connect(address)
                    except BlockingIOError:  # EINPROGRESS (Windows: WSAEWOULDBLOCK)
                        pass
                    except OSError as e:
                        fail(attempt, e)
                        continue
                    pending[attempt] = now + patience
                    selector.register(attempt, selectors.EVENT_WRITE)  # Windows reports a failure as writable too
                wake = min(next_start, deadline, *pending.values())
                for key, _ in selector.select(max(0.0, wake - time.monotonic())):
                    attempt = key.fileobj  # type: ignore[assignment]
                    selector.unregister(attempt)
                    code = attempt.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code == 0:
                        del pending[attempt]
                        attempt.setblocking(True)
                        return attempt
                    fail(attempt, _error(code))
                now = time.monotonic()
                for attempt, gives_up in list(pending.items()):
                    if now >= gives_up:
                        selector.unregister(attempt)
                        fail(attempt, TimeoutError("timed out"))
        finally:
            for attempt in pending:
                attempt.close()
