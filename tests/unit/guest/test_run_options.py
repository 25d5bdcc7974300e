"""Checks of run options before a container exists: log drivers and volume subpaths."""

from __future__ import annotations

import pytest

from guest.containers import logconfig, subpath
from guest.errors import InvalidInput


def test_log_drivers_and_options() -> None:
    assert logconfig.checked(None) == {"Type": "json-file", "Config": {}}
    assert logconfig.checked({"Type": "local"}) == {"Type": "local", "Config": {}}
    assert logconfig.checked({"Type": "none", "Config": {"tag": "x"}})["Type"] == "none"
    for bad in ({"Type": "syslog"}, {"Type": "json-file", "Config": {"max-size": "1m"}}, {"Type": "gelf"}):
        with pytest.raises(InvalidInput):
            logconfig.checked(bad)
    assert not logconfig.kept({"LogConfig": {"Type": "none"}}) and logconfig.kept({"LogConfig": {"Type": "local"}})


def test_subpaths_stay_inside_the_volume() -> None:
    assert subpath.valid("a") and subpath.valid("a/b/../c") and subpath.valid("a/..")
    for bad in ("", "/a", "..", "../a", "a/../../b"):
        assert not subpath.valid(bad)
