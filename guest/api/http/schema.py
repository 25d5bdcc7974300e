"""Declared shapes of request bodies and query parameters, checked before a handler runs.

A Kind checks one value and returns it (normalised where the Engine API allows a shortcut, such as a string for a
list of one), or raises InvalidInput naming where in the request the value was: `HostConfig.RestartPolicy: expected
an object`. JSON null stands for "not given" anywhere, as in dockerd's decoder; keys a shape does not declare pass
unchecked, as dockerd ignores them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Callable

from ...errors import InvalidInput

INT64 = 2**63


def shown(value: Any, limit: int = 40) -> str:
    """A value as quoted in an error message, cut short."""
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Kind:
    """What a value must be; `expected` says it in words."""

    expected = "a value"

    def check(self, value: Any, path: str) -> Any:
        if value is None:
            return None
        if not self.accepts(value):
            raise self.error(path)
        return self.normal(value, path)

    def accepts(self, value: Any) -> bool:
        return True

    def normal(self, value: Any, path: str) -> Any:
        return value

    def error(self, path: str, detail: str = "") -> InvalidInput:
        return InvalidInput(f"{path or 'request body'}: {detail or 'expected ' + self.expected}")


class Scalar(Kind):
    """A string, number or boolean: whatever `test` accepts."""

    def __init__(self, expected: str, test: Callable[[Any], bool]):
        self.expected = expected
        self.test = test

    def accepts(self, value: Any) -> bool:
        return self.test(value)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -INT64 <= v < INT64


STR = Scalar("a string", lambda v: isinstance(v, str))
BOOL = Scalar("a boolean", lambda v: isinstance(v, bool))
INT = Scalar("an integer", _is_int)
ANY = Kind()


class Grammar(Kind):
    """A string that `valid` accepts, e.g. a port or a signal; `what` names it."""

    def __init__(self, what: str, valid: Callable[[str], bool]):
        self.expected = f"a string ({what})"
        self.what = what
        self.valid = valid

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def normal(self, value: Any, path: str) -> Any:
        if not self.valid(value):
            raise self.error(path, f"{shown(value)} is not {self.what}")
        return value


class ListOf(Kind):
    def __init__(self, item: Kind):
        self.item = item
        self.expected = "a list of strings" if item is STR or isinstance(item, Grammar) else "a list"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list)

    def normal(self, value: Any, path: str) -> Any:
        for i, v in enumerate(value):
            if v is None:  # null stands for an absent field, never for an item
                raise self.item.error(f"{path}[{i}]")
        return [self.item.check(v, f"{path}[{i}]") for i, v in enumerate(value)]


class StrSlice(ListOf):
    """A list of strings, or one string for a list of one (dockerd's strslice: Cmd, Entrypoint, Shell)."""

    expected = "a string or a list of strings"

    def __init__(self) -> None:
        super().__init__(STR)
        self.expected = StrSlice.expected

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (list, str))

    def normal(self, value: Any, path: str) -> Any:
        return [value] if isinstance(value, str) else super().normal(value, path)


class MapOf(Kind):
    """An object with any keys (checked by `key` when given), each value of one kind."""

    expected = "an object"

    def __init__(self, value: Kind, key: Grammar | None = None):
        self.value = value
        self.key = key

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def normal(self, value: Any, path: str) -> Any:
        for k in value:
            if self.key is not None:
                self.key.check(k, path)
        return {k: self.value.check(v, where(path, k)) for k, v in value.items()}


class Shape(Kind):
    """An object with declared fields; others pass as they are."""

    expected = "an object"

    def __init__(self, **fields: Kind):
        self.fields = fields

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def normal(self, value: Any, path: str) -> Any:
        return {k: self.fields[k].check(v, where(path, k)) if k in self.fields else v for k, v in value.items()}


class Query(Kind):
    """A query parameter: a string that `parse` turns into a value (raising ValueError when it cannot)."""

    def __init__(self, expected: str, parse: Callable[[str], Any]):
        self.expected = expected
        self.parse = parse

    def normal(self, value: Any, path: str) -> Any:
        try:
            return self.parse(value)
        except (ValueError, OverflowError):
            raise self.error(path, f"expected {self.expected}, got {shown(value)}") from None


def integer(low: int = -INT64, high: int = INT64 - 1) -> Query:
    """An integer query parameter from `low` to `high` (an int64 unless narrower)."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"[+-]?\d{1,20}", text) or not low <= int(text) <= high:
            raise ValueError(text)
        return int(text)

    wide = low == -INT64 and high == INT64 - 1
    return Query("an integer" if wide else f"an integer from {low} to {high}", parse)


class JsonQuery(Query):
    """A query parameter holding JSON of a declared kind (filters, buildargs, labels)."""

    def __init__(self, kind: Kind):
        super().__init__(f"JSON: {kind.expected}", json.loads)
        self.kind = kind

    def normal(self, value: Any, path: str) -> Any:
        if value == "":
            return None
        try:
            return self.kind.check(json.loads(value), path)
        except (ValueError, RecursionError):
            raise self.error(path, f"invalid JSON {shown(value)}") from None


class Declared:
    """What a route accepts: its query parameters by name and the kind of its JSON body (when it has one)."""

    def __init__(self, query: Mapping[str, Kind] | None = None, body: Kind | None = None):
        self.query: Mapping[str, Kind] = query or {}
        self.body = body

    def check_query(self, query: dict[str, list[str]]) -> None:
        for name, kind in self.query.items():
            for value in query.get(name, []):
                if value != "":  # an empty value is an absent one, as dockerd reads it
                    kind.check(value, name)
