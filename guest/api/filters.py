"""The `filters` query parameter: {"key": ["v", ...]} or the older {"key": {"v": true}}."""

from __future__ import annotations

from ..errors import InvalidInput
from .http import Request


def parse(req: Request) -> dict[str, list[str]]:
    raw = req.json_arg("filters", {}) or {}
    if not isinstance(raw, dict):
        raise InvalidInput("invalid filters: expected a JSON object")
    result: dict[str, list[str]] = {}
    for key, values in raw.items():
        if isinstance(values, dict):
            values = [k for k, v in values.items() if v]
        elif isinstance(values, str):
            values = [values]
        result[key] = [str(v) for v in values]
    return result


def label_matches(labels: dict[str, str], wanted: list[str]) -> bool:
    for spec in wanted:
        key, sep, value = spec.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True
