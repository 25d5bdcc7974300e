"""Relaying bytes: the one mechanism behind the tunnel, port forwards, `machine ssh` and attached containers.

A flow copies one direction (read until the end, write each piece, then end the other side: a
half-close); `relay` runs flows side by side, one thread each, until the ones it waits for are done.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import paramiko

CHUNK = 65536


@dataclass
class Flow:
    """One direction: `read` returns b"" at the end; `end` then half-closes the destination."""

    read: Callable[[], bytes]
    write: Callable[[bytes], None]
    end: Callable[[], None] = lambda: None

    def run(self) -> None:
        """Copy until the source ends or either side fails, then end the destination."""
        try:
            while data := self.read():
                self.write(data)
        except (OSError, EOFError):
            pass
        finally:
            try:
                self.end()
            except (OSError, EOFError):
                pass


def relay(*flows: Flow, detached: Sequence[Flow] = ()) -> None:
    """Run `flows` and `detached` side by side; return once every one of `flows` is done. A detached flow
    (reading this process's stdin, which may never end) is not waited for."""
    for flow in detached:
        threading.Thread(target=flow.run, daemon=True).start()
    threads = [threading.Thread(target=flow.run, daemon=True) for flow in flows[1:]]
    for thread in threads:
        thread.start()
    if flows:
        flows[0].run()
    for thread in threads:
        thread.join()


End = socket.socket | paramiko.Channel


def half_close(end: Any) -> Callable[[], None]:
    """What ends writing to a socket or an SSH channel (the reader then sees EOF)."""
    if isinstance(end, paramiko.Channel):
        return end.shutdown_write
    return lambda: end.shutdown(socket.SHUT_WR)


def between(a: End, b: End) -> None:
    """Both directions between two sockets or channels, half-closes passed through; both closed after."""
    try:
        relay(
            Flow(lambda: a.recv(CHUNK), b.sendall, half_close(b)), Flow(lambda: b.recv(CHUNK), a.sendall, half_close(a))
        )
    finally:
        a.close()
        b.close()


def stdin_flow(write: Callable[[bytes], None], end: Callable[[], None]) -> Flow:
    """This process's stdin (a terminal in raw mode, or a pipe) to `write`, ended by `end` at EOF."""
    fd = sys.stdin.fileno()
    return Flow(lambda: os.read(fd, CHUNK), write, end)


def writer(stream: BinaryIO) -> Callable[[bytes], None]:
    """Write and flush each piece at once (interactive output)."""

    def write(data: bytes) -> None:
        stream.write(data)
        stream.flush()

    return write
