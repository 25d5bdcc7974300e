""".dockerignore: which paths of the build context COPY and ADD leave out."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

from .. import paths


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
        return parse(paths.resolve(context, ".dockerignore").read_text())
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []


def _regex(pattern: str) -> re.Pattern[str]:
    """A pattern as Docker reads it: `*` and `?` stay within a folder, `**` crosses folders (`**/` also none)."""
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if char == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            out, i = out + "[" + ("^" + body[1:] if body.startswith("!") else body) + "]", end + 1
            continue
        if char == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 2
            continue
        out += "[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
        i += 1
    return re.compile(out, re.DOTALL)


def ignored(relative: str, patterns: list[str]) -> bool:
    """.dockerignore semantics: later patterns win; `!` re-includes; a pattern also covers what is below it."""
    result = False
    parts = relative.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _regex(pattern[1:] if negate else pattern)
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


def _reincludes_below(relative_dir: str, patterns: list[str]) -> bool:
    """Whether a `!` pattern may name something below folder `relative_dir` (Docker then walks into it)."""
    below = relative_dir + "/"
    for pattern in patterns:
        if pattern.startswith("!"):
            fixed = re.split(r"[*?\[\\]", pattern[1:], maxsplit=1)[0]
            if fixed.startswith(below) or below.startswith(fixed):
                return True
    return False


def walk_filters(top: str, patterns: list[str]) -> tuple[Callable[[list[str]], bool], Callable[[list[str]], bool]]:
    """paths.walk's `skip` for the tree at `top` (relative to the context, "." for all of it), and which entries
    it still visits are ignored themselves: folders entered only because a `!` exception may re-include something
    below them, to be copied only if something below them is."""
    prefix = "" if top == "." else top + "/"

    def skip(parts: list[str]) -> bool:
        relative = prefix + "/".join(parts)
        return ignored(relative, patterns) and not _reincludes_below(relative, patterns)

    return skip, lambda parts: ignored(prefix + "/".join(parts), patterns)
