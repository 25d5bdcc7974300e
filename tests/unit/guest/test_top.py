"""docker top: ps output reduced to the container's processes."""

from __future__ import annotations

import pytest

from guest.containers import top
from guest.errors import InvalidInput

PS_EF = """\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         412       1  0 10:01 ?        00:00:00 sleep 60 --with args
root         413     412  0 10:01 ?        00:00:00 sh -c echo hi
"""


def test_only_the_containers_processes_and_the_last_column_keeps_its_spaces() -> None:
    result = top.parse(PS_EF, {412, 413})
    assert result["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert result["Processes"] == [
        ["root", "412", "1", "0", "10:01", "?", "00:00:00", "sleep 60 --with args"],
        ["root", "413", "412", "0", "10:01", "?", "00:00:00", "sh -c echo hi"],
    ]


def test_thread_lines_follow_their_process() -> None:
    output = "  PID   LWP CMD\n  412     - sleep\n    -   412 -\n    -   414 -\n    1     - init\n    -     1 -\n"
    assert top.parse(output, {412})["Processes"] == [["412", "-", "sleep"], ["-", "412", "-"], ["-", "414", "-"]]


def test_custom_columns() -> None:
    assert top.parse("  PID COMMAND\n  412 sleep\n    7 other\n", {412}) == {
        "Titles": ["PID", "COMMAND"],
        "Processes": [["412", "sleep"]],
    }


@pytest.mark.parametrize(
    "output, message",
    [
        ("COMMAND\nsleep\n", "Couldn't find PID field"),
        ("", "Couldn't find PID field"),
        ("PID\nabc\n", "unexpected pid"),
    ],
)
def test_unusable_ps_output(output: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        top.parse(output, {1})
