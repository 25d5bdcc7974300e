"""This process's terminal (or pipes) wired to a remote stream: raw mode, and the Engine API's attach and
exec streams (multiplexed frames unless the container has a TTY)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

from .relay import CHUNK, Flow, half_close, relay, stdin_flow, writer


class raw_terminal:
    """Put the local terminal in raw mode for the duration (no-op when stdin is not a terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and os.name == "posix"
        self.saved: list[Any] | None = None

    def __enter__(self) -> None:
        if self.enabled:
            import termios
            import tty

            self.saved = termios.tcgetattr(sys.stdin.fileno())
            tty.setraw(sys.stdin.fileno(), termios.TCSANOW)  # keep what was typed before

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self.saved)


class Demuxer:
    """Splits the Engine API's multiplexed stream (8-byte frame headers) into (stream, bytes) pieces."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buffer += data
        pieces = []
        while len(self.buffer) >= 8:
            stream, size = struct.unpack(">BxxxI", self.buffer[:8])
            if len(self.buffer) < 8 + size:
                break
            pieces.append((stream, self.buffer[8 : 8 + size]))
            self.buffer = self.buffer[8 + size :]
        return pieces


def write_output(pieces: list[tuple[int, bytes]]) -> None:
    """Frames of stream 2 to our stderr, the others to our stdout."""
    for stream, data in pieces:
        target = sys.stderr.buffer if stream == 2 else sys.stdout.buffer
        target.write(data)
        target.flush()


def attach(sock: Any, tty: bool, stdin: bool, resize: Callable[[int, int], None]) -> None:
    """Copy stdin to an attach/exec stream (docker-py's socket) and its output to stdout/stderr until the
    output ends; terminal size changes are passed on with `resize(height, width)`."""
    conn = socket.socket(fileno=os.dup(sock.fileno()))  # the connection under docker-py's wrapper, as a socket
    interactive = tty and sys.stdin.isatty()
    if interactive and hasattr(signal, "SIGWINCH"):

        def on_resize(signum: int, frame: object) -> None:
            size = shutil.get_terminal_size()
            resize(size.lines, size.columns)

        signal.signal(signal.SIGWINCH, on_resize)
    demuxer = Demuxer()
    output = writer(sys.stdout.buffer) if tty else lambda data: write_output(demuxer.feed(data))
    with conn, raw_terminal(interactive):
        relay(
            Flow(lambda: conn.recv(CHUNK), output),
            detached=[stdin_flow(conn.sendall, half_close(conn))] if stdin else [],
        )
