"""A client's stdio session (attach, exec): the connection it is on, and Docker's multiplexed stream format."""

from __future__ import annotations

import struct
from typing import Protocol

STDOUT, STDERR = 1, 2


class Stdio(Protocol):
    """The client's end of a session: what it sends (b"" once it is done), and where the output goes."""

    def read(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def close_write(self) -> None: ...

    def gone(self) -> bool:
        """Whether the client hung up (not a half-close that ends its input)."""
        ...


def frame(stream: int, data: bytes) -> bytes:
    """A multiplexed frame: stream (1 stdout, 2 stderr), 3 zero bytes, big-endian length, then the data."""
    return struct.pack(">BxxxI", stream, len(data)) + data
