"""Fixtures for the whole test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def default_bridge(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The session's agents share the default bridge: once they are gone, remove it and its firewall rules
    (unless the host had it before). A session without agents on this host (the VM tests, which tests/run runs
    beside the others) leaves it to the session that has them."""
    from guest.network.networks import Networks
    from guest.network.store import DEFAULT_BRIDGE

    if not any(item.get_closest_marker("containers") for item in request.session.items):
        yield
        return
    bridge = Path(f"/sys/class/net/{DEFAULT_BRIDGE}")
    existed = bridge.exists()
    yield
    if bridge.exists() and not existed:
        Networks(tmp_path_factory.mktemp("default-bridge")).teardown_host()
