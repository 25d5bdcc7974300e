"""Streams that layers pass through: hashed and copied as they are read, gzip made deterministic."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterator
from typing import IO, Any, Callable, Protocol


class Readable(Protocol):
    """What can be read in pieces (a file, an HTTP response)."""

    def read(self, n: int = -1) -> bytes: ...


class HashingReader(io.RawIOBase):
    """Reads a (possibly gzip) stream, hashing the uncompressed bytes and copying them to `copy`."""

    def __init__(self, source: IO[bytes], copy: IO[bytes]):
        head = source.read(2)
        raw = io.BufferedReader(Prefixed(head, source))
        self.stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw
        self.copy = copy
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self.stream.read(len(buf))
        self.digest.update(data)
        self.copy.write(data)
        self.size += len(data)
        buf[: len(data)] = data
        return len(data)

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return "sha256:" + self.digest.hexdigest()


class Prefixed(io.RawIOBase):
    """`head` (bytes already read to sniff the format), then the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self.head:
            n = min(len(buf), len(self.head))
            buf[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.rest.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class DigestReader(io.RawIOBase):
    """Reads a response while hashing what passes through (compressed blob digest)."""

    def __init__(self, source: Readable, progress: Callable[[int], None]):
        self.source, self.progress = source, progress
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self.source.read(len(buf))
        self.digest.update(data)
        self.count += len(data)
        self.progress(self.count)
        buf[: len(data)] = data
        return len(data)


def gzip_chunks(source: IO[bytes], size: int = 1 << 18) -> Iterator[bytes]:
    """Deterministic gzip (no name, no time), so a layer always compresses to the same digest; in chunks of about
    `size` bytes."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    pending: list[bytes] = []
    length = 0
    while block := source.read(size):
        pending.append(compressor.compress(block))
        length += len(pending[-1])
        if length >= size:
            yield b"".join(pending)
            pending, length = [], 0
    pending.append(compressor.flush())
    yield b"".join(pending)


class ChunkReader(io.RawIOBase):
    """A file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks = chunks
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(buf), len(self.pending))
        buf[:n], self.pending = self.pending[:n], self.pending[n:]
        return n
