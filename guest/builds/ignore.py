""".dockerignore: which paths of the build context COPY and ADD leave out."""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Callable


def parse(text: str) -> list[str]:
    """The patterns of a .dockerignore (comments and blank lines dropped, paths normalized, `!` kept)."""
    return [
        os.path.normpath(line.strip().lstrip("/"))
        if not line.strip().startswith("!")
        else "!" + os.path.normpath(line.strip()[1:].lstrip("/"))
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def read(context: Path) -> list[str]:
    """The patterns of the context's .dockerignore (none without one)."""
    try:
        return parse((context / ".dockerignore").read_text())
    except FileNotFoundError:
        return []


def ignored(relative: str, patterns: list[str]) -> bool:
    """.dockerignore semantics: later patterns win; `!` re-includes; a pattern also covers what is below it."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern[1:] if negate else pattern
        regex = fnmatch.translate(pattern).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        parts = relative.split("/")
        if any(re.match(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            result = not negate
    return result


def copytree_filter(root: Path, patterns: list[str]) -> Callable[[str, list[str]], list[str]]:
    """shutil.copytree's `ignore` for a tree under `root`."""

    def ignore(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if ignored(os.path.relpath(os.path.join(directory, n), root), patterns)]

    return ignore
