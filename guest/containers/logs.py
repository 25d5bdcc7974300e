"""Reading conmon's k8s-file container logs: `2024-01-01T00:00:00.123456789+00:00 stdout F text`."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Callable

from .. import times
from . import logrotation


def rfc3339_nano(stamp: str) -> str:
    """conmon's timestamp (local offset) as Docker prints it (UTC, nanoseconds, Z)."""
    return times.utc(int(times.parse(stamp)))[:-1] + f".{times.nanoseconds(stamp)}Z"


def parse_line(line: bytes) -> tuple[str, str, bool, bytes] | None:
    """(timestamp, stream, complete line?, text) of one log line."""
    try:
        stamp, stream, tag, text = line.rstrip(b"\n").split(b" ", 3)
    except ValueError:
        parts = line.rstrip(b"\n").split(b" ", 2)
        if len(parts) != 3:
            return None
        (stamp, stream, tag), text = parts, b""
    return stamp.decode(), stream.decode(), tag == b"F", text


Record = tuple[str, str, bytes]  # (RFC 3339 timestamp, stream, bytes)

_BLOCK = 1 << 16  # bytes read at a time, backwards from the end for --tail
_LONGEST = 1 << 20  # a longer line (conmon splits its lines far below) is cut there


class _Selection:
    """The records docker logs asks for: its streams, between `since` and `until` (0: no bound)."""

    def __init__(self, stdout: bool, stderr: bool, since: float, until: float):
        self.streams = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}
        self.since, self.until = since, until

    def pick(self, line: bytes) -> tuple[float, Record | None] | None:
        """(the line's time, its record if selected); None for a line that is not a log line."""
        parsed = parse_line(line)
        if not parsed:
            return None
        stamp, stream, complete, text = parsed
        moment = times.parse(stamp)
        if stream not in self.streams or (self.since and moment < self.since) or (self.until and moment > self.until):
            return moment, None
        return moment, (rfc3339_nano(stamp), stream, text + (b"\n" if complete else b""))


def read(
    path: Path,
    stdout: bool,
    stderr: bool,
    since: float = 0,
    until: float = 0,
    tail: int = -1,
    follow: bool = False,
    running: Callable[[], bool] = lambda: False,
) -> Iterator[Record | None]:
    """The selected records of the log's files, oldest first; with follow, None heartbeats while waiting for more,
    across rotations. Memory stays bounded whatever the log's size: --tail reads from the end, the rest reads line
    by line."""
    selection = _Selection(stdout, stderr, since, until)
    while follow and not path.exists():
        if not running():
            return
        yield None
        time.sleep(0.1)
    files = logrotation.opened(path)
    try:
        if not files:
            return
        if tail >= 0:
            yield from _tail(files, selection, tail)
            if not follow:
                return
            for f in files[:-1]:
                f.close()
            files = files[-1:]
        while files:
            f = files.pop(0)
            with f:
                current = not files
                lines = _lines(f, follow and current, running, functools.partial(logrotation.replaced, path, f))
                for line in lines:
                    if line is None:
                        yield None
                        continue
                    picked = selection.pick(line)
                    if picked and picked[1]:
                        yield picked[1]
                    elif picked and until and picked[0] > until and not follow:
                        return  # the log is in time order: nothing later is wanted
                if follow and current and logrotation.replaced(path, f):
                    files = _after(path, os.fstat(f.fileno()).st_ino)
    finally:
        for f in files:
            f.close()


def _after(path: Path, inode: int) -> list[BinaryIO]:
    """The log's files that follow the one with `inode` (all of them when it was dropped since)."""
    files = logrotation.opened(path)
    inodes = [os.fstat(f.fileno()).st_ino for f in files]
    start = inodes.index(inode) + 1 if inode in inodes else 0
    for f in files[:start]:
        f.close()
    return files[start:]


def _tail(files: list[BinaryIO], selection: _Selection, count: int) -> list[Record]:
    """The last `count` selected records of the complete lines, read backwards from the end of the last file; that
    file is left after them (where following goes on)."""
    current = files[-1]
    end = _after_last_newline(current)
    found: list[Record] = []
    for f in reversed(files):
        if len(found) == count:
            break
        for line in _lines_backwards(f, end if f is current else f.seek(0, os.SEEK_END)):
            picked = selection.pick(line)
            if picked and picked[1]:
                found.append(picked[1])
                if len(found) == count:
                    break
            elif picked and selection.since and picked[0] < selection.since:
                count = len(found)  # the log is in time order: nothing earlier is wanted
                break
    current.seek(end)
    found.reverse()
    return found


def _after_last_newline(f: BinaryIO) -> int:
    """The offset just past the last complete line (a line still being written comes later)."""
    end = f.seek(0, os.SEEK_END)
    position = end
    while position > 0 and end - position < _LONGEST:
        start = max(0, position - _BLOCK)
        f.seek(start)
        block = f.read(position - start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0 if position == 0 else end


def _lines_backwards(f: BinaryIO, end: int) -> Iterator[bytes]:
    """The complete lines before offset `end`, last first, a block at a time."""
    position, head = end, b""  # head: the start of a line, its beginning in an earlier block
    while position > 0:
        start = max(0, position - _BLOCK)
        f.seek(start)
        pieces = (f.read(position - start) + head).split(b"\n")
        head = pieces[0][-_LONGEST:]
        for line in reversed(pieces[1:]):
            if line:
                yield line + b"\n"
        position = start
    if head:
        yield head + b"\n"


def _lines(
    f: BinaryIO, follow: bool, running: Callable[[], bool], replaced: Callable[[], bool]
) -> Iterator[bytes | None]:
    """The complete lines from `f`'s position on; with follow, also those still to come (None heartbeats while
    waiting) until the container has stopped, and then its last line even without a newline, or until the file is
    `replaced` by a new one (rotated: all of it written)."""
    pending, idle, stopping = b"", 0.0, False
    while True:
        line = f.readline(_LONGEST)
        if line:
            pending += line
            if pending.endswith(b"\n") or len(pending) >= _LONGEST:
                yield pending
                pending = b""
            continue
        if not follow:
            return  # a line still being written is not complete yet
        if stopping:
            if pending:
                yield pending
            return
        if not running() or replaced():
            stopping = True  # one more pass reads what the container (or conmon, into this file) wrote last
            continue
        time.sleep(0.05)
        idle += 0.05
        if idle >= 1:
            idle = 0
            yield None
