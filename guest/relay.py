"""Relaying bytes from one end to another until the source is done: the port proxy, attach and exec sessions."""

from __future__ import annotations

import socket
import threading
from typing import Callable

Read = Callable[[], bytes]
Write = Callable[[bytes], None]


def pump(read: Read, write: Write, done: Callable[[], None] = lambda: None) -> None:
    """Pass what `read` gives to `write` until it gives b"" or either end fails; then `done` (say, a half-close)."""
    try:
        while True:
            data = read()
            if not data:
                break
            write(data)
    except OSError:
        pass
    try:
        done()
    except OSError:
        pass


def pump_in_background(read: Read, write: Write, done: Callable[[], None] = lambda: None) -> threading.Thread:
    """pump() in a thread of its own (the other direction of a session)."""
    thread = threading.Thread(target=pump, args=(read, write, done), daemon=True)
    thread.start()
    return thread


def receiver(sock: socket.socket, size: int = 65536) -> Read:
    """A socket's reads."""
    return lambda: sock.recv(size)


def half_closer(sock: socket.socket) -> Callable[[], None]:
    """Tells the peer that nothing more comes (the socket still reads)."""
    return lambda: sock.shutdown(socket.SHUT_WR)
