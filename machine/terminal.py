"""Wire this process's terminal (or pipes) to an attached container or exec stream."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import struct
import sys
from typing import Any, Callable

from .ssh import _raw_terminal


def _raw_socket(sock: Any) -> socket.socket:
    """The socket under docker-py's attach/exec wrapper."""
    return getattr(sock, "_sock", sock)


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
            pieces.append((stream, self.buffer[8:8 + size]))
            self.buffer = self.buffer[8 + size:]
        return pieces


def write_output(pieces: list[tuple[int, bytes]]) -> None:
    for stream, data in pieces:
        target = sys.stderr.buffer if stream == 2 else sys.stdout.buffer
        target.write(data)
        target.flush()


def pump(sock: Any, tty: bool, stdin: bool, resize: Callable[[int, int], None]) -> None:
    """Copy stdin to the stream and its output to stdout/stderr (demultiplexing frames unless tty)."""
    conn = _raw_socket(sock)
    interactive = tty and sys.stdin.isatty()
    if interactive and hasattr(signal, "SIGWINCH"):
        def on_resize(signum: int, frame: object) -> None:
            size = shutil.get_terminal_size()
            resize(size.lines, size.columns)
        signal.signal(signal.SIGWINCH, on_resize)
    out = sys.stdout.buffer
    demuxer = Demuxer()
    stdin_fd = sys.stdin.fileno() if stdin else None
    with _raw_terminal(interactive):
        while True:
            watch = [conn] + ([stdin_fd] if stdin_fd is not None else [])
            readable, _, _ = select.select(watch, [], [])
            if stdin_fd is not None and stdin_fd in readable:
                data = os.read(stdin_fd, 65536)
                if data:
                    conn.sendall(data)
                else:
                    stdin_fd = None
                    try:
                        conn.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
            if conn in readable:
                data = conn.recv(65536)
                if not data:
                    break
                if tty:
                    out.write(data)
                    out.flush()
                    continue
                write_output(demuxer.feed(data))
