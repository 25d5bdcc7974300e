"""Request bodies as files: exactly Content-Length bytes, or a chunked transfer decoded."""

from __future__ import annotations

import io
from typing import Any

from .errors import HttpError


class ChunkedReader(io.RawIOBase):
    """Decodes a chunked request body."""

    def __init__(self, rfile: io.BufferedIOBase):
        self._rfile = rfile
        self._left = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._done:
            return 0
        if self._left == 0:
            line = self._rfile.readline(1024)
            try:
                self._left = int(line.split(b";")[0].strip() or b"x", 16)
            except ValueError:
                raise HttpError(400, "malformed chunked request body") from None
            if self._left == 0:
                while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                self._done = True
                return 0
        data = self._rfile.read(min(len(buf), self._left))
        if not data:
            raise HttpError(400, "request body ended early")
        n = len(data)
        buf[:n] = data
        self._left -= n
        if self._left == 0:
            self._rfile.readline(16)
        return n


class LengthReader(io.RawIOBase):
    """Reads exactly Content-Length bytes of a request body."""

    def __init__(self, rfile: io.BufferedIOBase, length: int):
        self._rfile = rfile
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._left <= 0:
            return 0
        data = self._rfile.read(min(len(buf), self._left))
        n = len(data)
        buf[:n] = data
        self._left -= n
        return n
