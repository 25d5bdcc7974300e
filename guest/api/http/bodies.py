"""Request bodies as files: exactly Content-Length bytes, or a chunked transfer decoded; and what a handler left
unread, drained so that the connection can carry the next request."""

from __future__ import annotations

import io
from typing import Any, Union

from .errors import HttpError
from .head import Headers


class ChunkedReader(io.RawIOBase):
    """Decodes a chunked request body."""

    def __init__(self, rfile: io.BufferedIOBase):
        self._rfile = rfile
        self._left = 0
        self._done = False

    @property
    def finished(self) -> bool:
        """Whether the whole body was read (the next request starts here)."""
        return self._done

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

    @property
    def finished(self) -> bool:
        """Whether the whole body was read (the next request starts here)."""
        return self._left <= 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._left <= 0:
            return 0
        data = self._rfile.read(min(len(buf), self._left))
        if not data:
            raise HttpError(400, "request body ended early")
        n = len(data)
        buf[:n] = data
        self._left -= n
        return n


Body = Union[ChunkedReader, LengthReader]


def open_body(rfile: io.BufferedIOBase, headers: Headers) -> Body:
    """The body the request's headers announce (chunked wins over Content-Length, as HTTP/1.1 says; none is empty)."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return ChunkedReader(rfile)
    try:
        length = int(headers.get("Content-Length") or 0)
    except ValueError:
        length = -1
    if length < 0:
        raise HttpError(400, f"invalid Content-Length: {headers.get('Content-Length')!r}")
    return LengthReader(rfile, length)


def drain(body: Body, limit: int) -> bool:
    """Read and drop what is left of `body`, up to `limit` bytes; True when the whole body is read."""
    buf = bytearray(min(limit, 1 << 16) or 1)
    while not body.finished and limit > 0:
        try:
            n = body.readinto(memoryview(buf)[: min(len(buf), limit)])
        except (HttpError, OSError):
            return False
        if not n:
            break
        limit -= n
    return body.finished
