"""Detach keys as Docker spells them, and the watch on a session's input."""

from __future__ import annotations

import pytest

from guest.containers import detachkeys
from guest.errors import InvalidInput


def test_parse_as_docker_spells_them() -> None:
    assert detachkeys.parse("") == b"\x10\x11"
    assert detachkeys.parse("ctrl-p,ctrl-q") == b"\x10\x11"
    assert detachkeys.parse("ctrl-A,x") == b"\x01x"
    assert detachkeys.parse("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_") == bytes([0, 27, 28, 29, 30, 31])
    for bad in ("ctrl-1", "shift-a", "ab", "ctrl-", ",", "é"):
        with pytest.raises(InvalidInput):
            detachkeys.parse(bad)


def test_watch_passes_input_on_until_the_sequence() -> None:
    watch = detachkeys.Watch(b"\x10\x11")
    assert watch.feed(b"ls\n") == b"ls\n"
    assert watch.feed(b"\x10") == b"" and not watch.detached  # held: it may begin the sequence
    assert watch.feed(b"a") == b"\x10a"  # it did not: given on
    assert watch.feed(b"x\x10\x11y") == b"x" and watch.detached


def test_reader_ends_at_the_sequence() -> None:
    chunks = iter([b"echo", b"\x10", b"\x11", b"never"])
    watch = detachkeys.Watch(b"\x10\x11")
    read = watch.reader(lambda: next(chunks))
    assert read() == b"echo"
    assert read() == b"" and watch.detached
