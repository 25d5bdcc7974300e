"""Go-template-style `--format` strings, as docker-machine's `ls` takes them, without a template engine.

Only these actions exist: `{{.Field}}` (the value as the table shows it), `{{json .}}` and `{{json .Field}}`
(the machine-readable values of `--format json`). A `table` prefix prints a header row first and aligns the
tab-separated columns; `\\t` and `\\n` typed literally are a tab and a newline, as in docker-machine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_FIELD = re.compile(r"\s*(?:(json)\s+)?\.([A-Za-z_][A-Za-z0-9_]*)?\s*")


class TemplateError(ValueError):
    """A format string with an unknown field or an action other than the supported ones."""


@dataclass(frozen=True)
class Action:
    """One `{{...}}`: a field (None: the whole item, `.`), printed as JSON or as shown."""

    field: str | None
    json: bool


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Action, ...]
    table: bool

    def render(self, shown: Mapping[str, Any], data: Mapping[str, Any]) -> str:
        """The text for one item: `shown` fills `{{.Field}}`, `data` fills `{{json ...}}`."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part.field is None:
                out.append(json.dumps(dict(data)))
            else:
                out.append(json.dumps(data[part.field]) if part.json else str(shown[part.field]))
        return "".join(out)


def parse(text: str, fields: Mapping[str, str], refused: Mapping[str, str] | None = None) -> Template:
    """Parse a format string whose `{{.Field}}`s must be keys of `fields` (fields: header of each);
    `refused` names fields that exist elsewhere (docker-machine) but not here, with the reason."""
    table = text.startswith("table")
    if table:
        text = text[len("table") :]
    text = text.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    parts: list[str | Action] = []
    end = 0
    for match in _ACTION.finditer(text):
        parts.append(text[end : match.start()])
        parts.append(_action(match.group(1), fields, refused or {}))
        end = match.end()
    rest = text[end:]
    if "{{" in rest or "}}" in rest:
        raise TemplateError(f"unbalanced braces in format {text!r}")
    parts.append(rest)
    return Template(tuple(p for p in parts if p != ""), table)


def _action(inner: str, fields: Mapping[str, str], refused: Mapping[str, str]) -> Action:
    match = _FIELD.fullmatch(inner)
    if not match or "{{" in inner:
        raise TemplateError(
            f"unsupported action {{{{{inner}}}}}: use {{{{.Field}}}}, {{{{json .}}}} or {{{{json .Field}}}}"
        )
    as_json, field = bool(match.group(1)), match.group(2)
    if field is None and not as_json:
        raise TemplateError("{{.}} is not supported: use {{json .}} or {{.Field}}")
    if field is not None and field not in fields:
        reason = refused.get(field, f"fields are {', '.join(fields)}")
        raise TemplateError(f"unknown field {field!r} in {{{{{inner}}}}}: {reason}")
    return Action(field, as_json)


def header(template: Template, fields: Mapping[str, str]) -> str:
    """The header row of a `table` template: each field's header in its place (as docker-machine renders
    the template with the headers)."""
    return template.render(fields, fields)


def align(lines: list[str]) -> list[str]:
    """Tab-separated cells padded to their column's widest cell, three spaces apart (the last cell of a line
    is not padded), as docker's tabwriter prints a table."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for cells in rows:
        for i, cell in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell))
    return [
        "".join([*(c.ljust(widths[i] + 3) for i, c in enumerate(cells[:-1])), cells[-1]]).rstrip() for cells in rows
    ]
