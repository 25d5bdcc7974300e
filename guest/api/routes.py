"""Every route but /_ping (ping.py), added to the router once the engine is open: the Engine API's, and
machine's own /_machine/resumed (resume.py)."""

from __future__ import annotations

from ..engine import Engine
from . import (
    build,
    commit,
    container_io,
    containers,
    disk_usage,
    distribution,
    execs,
    images,
    networks,
    resume,
    swarm,
    system,
    volumes,
)
from .http.router import Router

MODULES = [
    images,
    volumes,
    containers,
    container_io,
    execs,
    commit,
    disk_usage,
    distribution,
    networks,
    build,
    swarm,
]


def register(router: Router, engine: Engine) -> None:
    """Add the routes; then `router.complete` is set."""
    system.register(router, engine)  # /version, /info, /events answer at once, also during start-up
    resume.register(router)  # so does the resumed machine's clock step
    router.before = engine.wait_started  # the others wait for the recovered containers and their networks
    for module in MODULES:
        module.register(router, engine)
    router.complete.set()
