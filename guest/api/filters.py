"""The `filters` query parameter: {"key": ["v", ...]} or the older {"key": {"v": true}}, and label filters."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from .http.request import Request


def parse(raw: Any, name: str = "filters") -> dict[str, list[str]]:
    """Decoded filters as {key: [values]} (a value given as a string or as {value: true} counts too); errors name
    the filter (`filters.status: ...`)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput(f'{name}: expected an object, as {{"key": ["value"]}}')
    result: dict[str, list[str]] = {}
    for key, values in raw.items():
        if isinstance(values, dict) and all(isinstance(v, bool) for v in values.values()):
            values = [k for k, v in values.items() if v]
        elif isinstance(values, str):
            values = [values]
        elif not isinstance(values, list) or not all(isinstance(v, (str, int, float)) for v in values):
            raise InvalidInput(f"invalid filter {name}.{key}: expected a list of strings")
        result[key] = [str(v) for v in values]
    return result


def of(req: Request) -> dict[str, list[str]]:
    """The request's filters."""
    return parse(req.json_arg("filters", {}))


def label_matches(labels: dict[str, str], wanted: list[str]) -> bool:
    """Whether `labels` has every `key` or `key=value` of `wanted`."""
    for spec in wanted:
        key, sep, value = spec.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True
