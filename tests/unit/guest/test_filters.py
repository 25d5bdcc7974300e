"""The API's `filters` parameter, in the forms docker clients send it."""

from __future__ import annotations

from typing import Any

import pytest

from guest.api import filters
from guest.errors import InvalidInput


@pytest.mark.parametrize(
    "raw, parsed",
    [
        (None, {}),
        ({}, {}),
        ({"label": ["a=1", "b"]}, {"label": ["a=1", "b"]}),
        ({"dangling": {"true": True, "false": False}}, {"dangling": ["true"]}),  # the pre-1.24 map form
        ({"name": "web"}, {"name": ["web"]}),
        ({"exited": [0, 137]}, {"exited": ["0", "137"]}),
    ],
)
def test_parse(raw: Any, parsed: dict[str, list[str]]) -> None:
    assert filters.parse(raw) == parsed


@pytest.mark.parametrize("raw", [["label=a"], "status=running", {"label": 5}, {"label": None}])
def test_malformed_filters_are_a_clear_error(raw: Any) -> None:
    with pytest.raises(InvalidInput, match="invalid filter|expected an object"):
        filters.parse(raw)


def test_label_matches_needs_every_label() -> None:
    labels = {"team": "blue", "tier": "web"}
    assert filters.label_matches(labels, ["team", "tier=web"])
    assert not filters.label_matches(labels, ["team=red"])
    assert not filters.label_matches(labels, ["team", "owner"])
    assert filters.label_matches(labels, [])
    assert filters.label_matches({"empty": ""}, ["empty="])
