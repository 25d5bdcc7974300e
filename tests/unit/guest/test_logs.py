"""conmon's k8s-file logs: lines parsed and read back with the options of docker logs."""

from __future__ import annotations

from pathlib import Path

from guest.containers import logs


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
