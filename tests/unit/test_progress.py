"""Progress output: a bar or a ticking counter redrawn in place on a terminal (a real pseudo-terminal here),
plain lines otherwise."""

from __future__ import annotations

import io
import os
import re
from typing import BinaryIO

from machine.progress import Console, Meter, ticking


def _read_until(screen: BinaryIO, ending: str) -> str:
    shown = ""
    while not shown.endswith(ending):
        shown += screen.read(4096).decode()
    return shown


def test_plain_output_gets_a_line_per_tenth_and_a_summary() -> None:
    out = io.StringIO()
    console = Console(out)
    assert not console.live
    meter = Meter(console, "  the cloud image", 100e6)
    for done in range(0, 101, 5):
        meter.update(done * 1e6)
    meter.finish(100e6)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["  10.0/100.0 MB (10%)", "  20.0/100.0 MB (20%)"] and len(lines) == 11
    assert re.fullmatch(r"  the cloud image: 100\.0/100\.0 MB in 0:\d\d", lines[-1])
    assert "\r" not in out.getvalue()


def test_a_terminal_gets_a_bar_redrawn_in_place_then_replaced_by_the_summary() -> None:
    primary, secondary = os.openpty()
    with open(secondary, "w") as tty, open(primary, "rb", buffering=0) as screen:
        console = Console(tty)
        assert console.live
        meter = Meter(console, "Downloading", 50e6)
        meter.update(25e6)
        meter.finish(50e6)
        shown = _read_until(screen, "\n")
    assert "\r\x1b[KDownloading  [============            ]  50%  25.0/50.0 MB  0:00" in shown
    assert shown.endswith("\r\x1b[KDownloading: 50.0/50.0 MB in 0:00\r\n")  # the tty turns \n into \r\n


def test_ticking_counts_seconds_on_a_terminal_and_says_how_long_it_took() -> None:
    primary, secondary = os.openpty()
    with open(secondary, "w") as tty, open(primary, "rb", buffering=0) as screen:
        with ticking(Console(tty), "[1/3] Installing packages"):
            shown = _read_until(screen, "Installing packages  0:01")  # a redraw a second later
        shown += _read_until(screen, "\n")
    assert shown.startswith("\r\x1b[K[1/3] Installing packages  0:00\r\x1b[K[1/3] Installing packages  0:01")
    assert re.search(r"\r\x1b\[K\[1/3\] Installing packages: done in \d:\d\d\r\n$", shown)


def test_ticking_without_a_terminal_prints_plain_lines() -> None:
    said: list[str] = []
    with ticking(said.append, "Installing packages"):
        pass
    assert said == ["Installing packages", "  done in 0:00"]


PULL = [
    {"status": "Pulling from library/busybox", "id": "latest"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "aaa"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "bbb"},
    {"status": "Downloading", "progressDetail": {"current": 1000000, "total": 4000000}, "id": "aaa"},
    {"status": "Pull complete", "progressDetail": {}, "id": "aaa"},
    {"status": "Already exists", "progressDetail": {}, "id": "bbb"},
    {"status": "Digest: sha256:0123"},
    {"status": "Status: Downloaded newer image for busybox:latest"},
]


def test_pull_progress_is_docker_like_lines_plus_a_live_layer_line_on_a_terminal() -> None:
    from machine.cli.images import show_progress

    plain = io.StringIO()
    show_progress(iter(PULL), Console(plain))
    assert plain.getvalue().splitlines() == [
        "latest: Pulling from library/busybox",
        "aaa: Pull complete",
        "bbb: Already exists",
        "Digest: sha256:0123",
        "Status: Downloaded newer image for busybox:latest",
    ]
    primary, secondary = os.openpty()
    with open(secondary, "w") as tty, open(primary, "rb", buffering=0) as screen:
        show_progress(iter(PULL), Console(tty))
        shown = _read_until(screen, "busybox:latest\r\n")
    # redrawn at most ten times a second: here only the first draw shows, then gives way to the next status
    assert "\r\x1b[K0/1 layers  0.0 MB  0:00\r\x1b[Kaaa: Pull complete\r\n" in shown
