"""Checks of run options before a container exists: log drivers and volume subpaths."""

from __future__ import annotations

import pytest

from guest.containers import logconfig, subpath
from guest.errors import InvalidInput


def test_log_drivers_and_options() -> None:
    assert logconfig.checked(None) == {"Type": "json-file", "Config": {}}
    assert logconfig.checked({"Type": "local"}) == {"Type": "local", "Config": {}}
    assert logconfig.checked({"Type": "none", "Config": {"tag": "x"}})["Type"] == "none"
    for bad in ({"Type": "syslog"}, {"Type": "json-file", "Config": {"tag": "x"}}, {"Type": "gelf"}):
        with pytest.raises(InvalidInput):
            logconfig.checked(bad)
    capped = logconfig.checked({"Type": "json-file", "Config": {"max-size": "1.5m", "max-file": "3"}})
    assert logconfig.limits({"LogConfig": capped}) == logconfig.Limits(1500000, 3)  # go-units: decimal
    assert logconfig.limits({"LogConfig": {"Type": "json-file"}}) is None
    assert logconfig.limits({"LogConfig": {"Type": "local", "Config": {}}}) == logconfig.Limits(20 * 1024 * 1024, 5)
    for size in ("1.2.3", "k", "-1", "10q"):
        with pytest.raises(InvalidInput, match=f"invalid size: '{size}'"):
            logconfig.checked({"Type": "json-file", "Config": {"max-size": size}})
    assert logconfig.limits({"LogConfig": {"Type": "json-file", "Config": {"max-size": "10 kb"}}}) == (10000, 1)
    assert not logconfig.kept({"LogConfig": {"Type": "none"}}) and logconfig.kept({"LogConfig": {"Type": "local"}})


def test_subpaths_stay_inside_the_volume() -> None:
    assert subpath.valid("a") and subpath.valid("a/b/../c") and subpath.valid("a/..")
    for bad in ("", "/a", "..", "../a", "a/../../b"):
        assert not subpath.valid(bad)
