""".dockerignore: what COPY and ADD leave out of the build context."""

from __future__ import annotations

from pathlib import Path

import pytest

from guest.builds import ignore


def test_parse_drops_comments_and_blank_lines_and_normalizes_paths() -> None:
    text = "# comment\n\n/app/../secret\n  *.log  \n!keep.log\ndir/\n"
    assert ignore.parse(text) == ["secret", "*.log", "!keep.log", "dir"]


@pytest.mark.parametrize(
    "patterns, path, expected",
    [
        (["*.log"], "debug.log", True),
        (["*.log"], "app/debug.log", False),  # * does not cross folders
        (["**/*.log"], "app/deep/debug.log", True),
        (["**/*.log"], "debug.log", True),  # `**/` also matches no folder at all
        (["**/*.log"], "app/debug.txt", False),
        (["app/**"], "app/deep/file", True),
        (["build"], "build/out/bin", True),  # a pattern covers what is below it
        (["*.log", "!keep.log"], "keep.log", False),  # later patterns win
        (["!keep.log", "*.log"], "keep.log", True),
        (["docs/*.md"], "docs/a.md", True),
        (["docs/*.md"], "docs/sub/a.md", False),
        (["a?c"], "abc", True),
        (["a?c"], "a/c", False),  # nor does ?
        (["a[!b]c"], "axc", True),
        (["a[!b]c"], "abc", False),
        (["[0-9].txt"], "7.txt", True),
        (["\\*.txt"], "*.txt", True),  # an escaped * is a star
        (["\\*.txt"], "a.txt", False),
        (["a.b"], "axb", False),  # a dot is a dot
        ([], "anything", False),
    ],
)
def test_ignored(patterns: list[str], path: str, expected: bool) -> None:
    assert ignore.ignored(path, patterns) is expected


def test_walk_filters_name_the_entries_to_skip() -> None:
    skip, held = ignore.walk_filters("app", ["app/*.log", "!app/keep.log"])
    assert [name for name in ["a.log", "keep.log", "main.py"] if skip([name])] == ["a.log"]
    assert not any(held([name]) for name in ["keep.log", "main.py"])
    skip, held = ignore.walk_filters(".", ["app"])
    assert skip(["app", "x"]) and not skip(["other"])


def test_a_folder_with_exceptions_below_is_entered_but_held() -> None:
    skip, held = ignore.walk_filters(".", ["dir", "!dir/keep.txt"])
    assert not skip(["dir"]) and held(["dir"])  # entered, written only if keep.txt is
    assert not skip(["dir", "keep.txt"]) and not held(["dir", "keep.txt"])
    assert skip(["dir", "drop.txt"]) and skip(["dir", "sub"])


def test_read_without_a_dockerignore(tmp_path: Path) -> None:
    assert ignore.read(tmp_path) == []
    (tmp_path / ".dockerignore").write_text("node_modules\n")
    assert ignore.read(tmp_path) == ["node_modules"]
