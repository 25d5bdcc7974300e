"""Reading conmon's k8s-file container logs: `2024-01-01T00:00:00.123456789+00:00 stdout F text`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Callable

from .. import times


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


def read(
    path: Path,
    stdout: bool,
    stderr: bool,
    since: float = 0,
    until: float = 0,
    tail: int = -1,
    follow: bool = False,
    running: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[str, str, bytes] | None]:
    """(RFC3339 timestamp, stream, bytes) records; with follow, None heartbeats while waiting for more."""
    wanted = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}

    def records(lines: list[bytes]) -> list[tuple[str, str, bytes]]:
        out = []
        for raw in lines:
            parsed = parse_line(raw)
            if not parsed:
                continue
            stamp, stream, complete, text = parsed
            if stream not in wanted:
                continue
            moment = times.parse(stamp)
            if (since and moment < since) or (until and moment > until):
                continue
            out.append((rfc3339_nano(stamp), stream, text + (b"\n" if complete else b"")))
        return out

    while follow and not path.exists():
        if not running():
            return
        yield None
        time.sleep(0.1)
    try:
        with open(path, "rb") as f:
            yield from _records_from(f, records, tail, follow, running)
    except FileNotFoundError:
        return


def _records_from(
    f: BinaryIO,
    records: Callable[[list[bytes]], list[tuple[str, str, bytes]]],
    tail: int,
    follow: bool,
    running: Callable[[], bool],
) -> Iterator[tuple[str, str, bytes] | None]:
    lines = f.readlines()
    pending = b""
    if lines and not lines[-1].endswith(b"\n"):
        pending = lines.pop()
    found = records(lines)
    if tail >= 0:
        found = found[-tail:] if tail else []
    yield from found
    if not follow:
        return
    idle = 0.0
    while True:
        chunk = f.readline()
        if chunk:
            pending += chunk
            if pending.endswith(b"\n"):
                yield from records([pending])
                pending = b""
            continue
        if not running():
            rest = f.read()
            if rest:
                yield from records((pending + rest).splitlines(keepends=True))
            return
        time.sleep(0.05)
        idle += 0.05
        if idle >= 1:
            idle = 0
            yield None
