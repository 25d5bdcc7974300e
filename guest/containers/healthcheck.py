"""A container's Healthcheck as Docker reads it: merged with its image's, the command a probe runs, and what
`docker ps` shows of its health."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from .record import Container


def merged(requested: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """The container's Healthcheck: the request's, its unset fields (and a missing Test) taken from the image's."""
    if not requested:
        return dict(image) if image else None
    if requested.get("Test") or not image:
        return {**{k: v for k, v in (image or {}).items() if k != "Test"}, **{k: v for k, v in requested.items() if v}}
    return {**image, **{k: v for k, v in requested.items() if v}}


def check(healthcheck: dict[str, Any] | None) -> None:
    """Refuse (400) durations below a millisecond and negative retries, as dockerd does."""
    for field in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = (healthcheck or {}).get(field) or 0
        if value and value < 1_000_000:
            raise InvalidInput(f"{field} in Healthcheck cannot be less than 1ms")
    if ((healthcheck or {}).get("Retries") or 0) < 0:
        raise InvalidInput("Retries in Healthcheck cannot be negative")


def probe_command(check: dict[str, Any], shell: list[str] | None) -> list[str] | None:
    """What a probe runs (None: no checks, `NONE`)."""
    test = list(check.get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return [*(shell or ["/bin/sh", "-c"]), " ".join(test[1:])]
    return test[1:] if test[0] == "CMD" else test


def suffix(c: Container) -> str:
    """What `docker ps` adds to an Up status: ` (healthy)`, ` (unhealthy)`, ` (health: starting)`."""
    status = (c.state.get("Health") or {}).get("Status")
    if not status or not c.running:
        return ""
    return " (health: starting)" if status == "starting" else f" ({status})"
