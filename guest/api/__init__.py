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
    system,
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
    for module in MODULES:
        module.register(router, engine)
    return router
