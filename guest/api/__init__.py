"""The Engine API routes, one module per resource; each has register(router, engine)."""

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
    swarm,
    system,
    volumes,
)
from .http import Router

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


def build_router(engine: Engine) -> Router:
    router = Router()
    system.register(router, engine)  # /_ping, /version, /info, /events answer at once, also during start-up
    router.before = engine.wait_started  # the others wait for the recovered containers and their networks
    for module in MODULES:
        module.register(router, engine)
    return router
