"""conmon's k8s-file logs: lines parsed and read back with the options of docker logs."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guest.containers import logrotation, logs


def test_parse_line() -> None:
    assert logs.parse_line(b"2024-01-01T00:00:00.5+00:00 stdout F hello world\n") == (
        "2024-01-01T00:00:00.5+00:00",
        "stdout",
        True,
        b"hello world",
    )
    assert logs.parse_line(b"2024-01-01T00:00:00Z stderr P partial") == (
        "2024-01-01T00:00:00Z",
        "stderr",
        False,
        b"partial",
    )
    assert logs.parse_line(b"2024-01-01T00:00:00Z stdout F\n") == ("2024-01-01T00:00:00Z", "stdout", True, b"")
    assert logs.parse_line(b"garbage\n") is None


def test_rfc3339_nano_is_utc_with_nine_digits() -> None:
    assert logs.rfc3339_nano("2024-05-01T12:00:00.123+02:00") == "2024-05-01T10:00:00.123000000Z"
    assert logs.rfc3339_nano("2024-05-01T12:00:00.123456789+00:00") == "2024-05-01T12:00:00.123456789Z"


def _log(tmp_path: Path) -> Path:
    path = tmp_path / "ctr.log"
    path.write_bytes(
        b"1970-01-01T00:00:10Z stdout F one\n"
        b"1970-01-01T00:00:20Z stderr F two\n"
        b"1970-01-01T00:00:30Z stdout P thr\n"
        b"1970-01-01T00:00:30Z stdout F ee\n"
        b"1970-01-01T00:00:40Z stdout F four\n"
    )
    return path


def test_read_streams_tail_since_and_until(tmp_path: Path) -> None:
    path = _log(tmp_path)
    texts = [r[2] for r in logs.read(path, True, True) if r]
    assert texts == [b"one\n", b"two\n", b"thr", b"ee\n", b"four\n"]  # partial lines are joined by the reader
    assert [r[2] for r in logs.read(path, False, True) if r] == [b"two\n"]
    assert [r[2] for r in logs.read(path, True, True, tail=2) if r] == [b"ee\n", b"four\n"]
    assert [r[2] for r in logs.read(path, True, True, tail=0) if r] == []
    assert [r[2] for r in logs.read(path, True, True, since=25, until=35) if r] == [b"thr", b"ee\n"]
    stamp, stream, _ = next(r for r in logs.read(path, True, False) if r)
    assert (stamp, stream) == ("1970-01-01T00:00:10.000000000Z", "stdout")


def test_read_of_a_missing_log_without_follow_is_empty(tmp_path: Path) -> None:
    assert list(logs.read(tmp_path / "none.log", True, True)) == []


def test_follow_ends_with_the_container_and_reads_what_came_last(tmp_path: Path) -> None:
    path = _log(tmp_path)
    running = iter([True, False])
    records = logs.read(path, True, True, follow=True, running=lambda: next(running, False))
    seen = []
    for record in records:
        if record is None:
            continue
        seen.append(record[2])
        if record[2] == b"four\n":
            with open(path, "ab") as f:
                f.write(b"1970-01-01T00:00:50Z stdout F five\n")
    assert seen[-2:] == [b"four\n", b"five\n"]


def _line(second: int, stream: str, text: str, complete: bool = True) -> bytes:
    return f"1970-01-01T00:{second // 60:02d}:{second % 60:02d}Z {stream} {'F' if complete else 'P'} {text}\n".encode()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]), st.text("abc xyz", max_size=40)), max_size=30),
    st.integers(min_value=0, max_value=35),
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=0, max_value=30),
    st.sampled_from([(True, True), (True, False), (False, True)]),
)
def test_tail_read_backwards_matches_the_whole_log_read_forwards(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[tuple[str, str]],
    tail: int,
    since: int,
    until: int,
    streams: tuple[bool, bool],
) -> None:
    path = tmp_path_factory.mktemp("log") / "ctr.log"
    path.write_bytes(b"".join(_line(i + 1, stream, text) for i, (stream, text) in enumerate(lines)))
    forwards = [r for r in logs.read(path, *streams, since=since, until=until) if r]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(logs, "_BLOCK", 7)  # lines cross many blocks
        backwards = [r for r in logs.read(path, *streams, since=since, until=until, tail=tail) if r]
    assert backwards == (forwards[-tail:] if tail else [])


def test_tail_of_a_large_log_reads_only_its_end(tmp_path: Path) -> None:
    path = tmp_path / "ctr.log"
    with open(path, "wb") as f:
        block = b"".join(_line(1, "stdout", "x" * 200) for _ in range(1000))
        for _ in range(250):  # 50 MB
            f.write(block)
        f.write(_line(2, "stderr", "the end") + _line(3, "stdout", "still being writ", complete=False)[:-1])
    tracemalloc.start()
    try:
        last = [r for r in logs.read(path, True, True, tail=1) if r]
        since = [r for r in logs.read(path, False, True, since=2) if r]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r[2] for r in last] == [b"the end\n"] == [r[2] for r in since]
    assert peak < 4 << 20  # the reads hold a block or a line, never the file


def test_tail_and_follow_goes_on_after_the_last_complete_line(tmp_path: Path) -> None:
    path = tmp_path / "ctr.log"
    path.write_bytes(_line(1, "stdout", "one") + _line(2, "stdout", "two") + b"1970-01-01T00:00:03Z stdout F thr")
    running = iter([True, True, False])
    records = logs.read(path, True, True, tail=1, follow=True, running=lambda: next(running, False))
    seen = []
    for record in records:
        if record is None:
            continue
        seen.append(record[2])
        if record[2] == b"two\n":
            with open(path, "ab") as f:
                f.write(b"ee\n")
    assert seen == [b"two\n", b"three\n"]


def _conmon_moves_on(path: Path) -> None:
    """What conmon does when its file is full: a new file (`<log>.tmp`, truncated) renamed over the log."""
    tmp = path.with_name(path.name + ".tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600))
    os.replace(tmp, path)


def test_rotation_keeps_the_files_conmon_leaves(tmp_path: Path) -> None:
    path = tmp_path / "ctr.log"
    logrotation.prepare(path, 3)
    written = []
    for number in range(1, 8):
        line = f"2024-01-01T00:00:0{number}.000000000+00:00 stdout F line {number}\n"
        with open(path, "a") as f:
            f.write(line)
        written.append(f"line {number}\n".encode())
        if number in (2, 3, 5, 6):  # two moves between two ticks too
            _conmon_moves_on(path)
        if number != 5:
            logrotation.tick(path, 3)
        texts = [r[2] for r in logs.read(path, True, True) if r]
        assert texts == written[-len(texts) :] and len(texts) >= min(number, 3)
    logrotation.settle(path, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctr.log", "ctr.log.1", "ctr.log.2"]
    assert [r[2] for r in logs.read(path, True, True) if r] == written[3:]  # files [4, 5], [6], [7]
    assert [r[2] for r in logs.read(path, True, True, tail=2) if r] == written[-2:]
