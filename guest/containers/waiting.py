"""Waiting for a container as dockerd's wait conditions do, followed through the event bus so no exit is missed.

`not-running` is met at once by a container that is not running (nor about to restart), else at its next exit;
`next-exit` at the next exit (under a restart policy: the first one); `removed` when the container is removed. The
removal of a container also ends a wait for its exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from .record import Container
from .store import ContainerStore

CONDITIONS = ("not-running", "next-exit", "removed")


class Exit(NamedTuple):
    """What a wait answers: the exit code and the error that stopped the container (empty if none)."""

    code: int
    error: str


def _now(c: Container) -> Exit:
    return Exit(int(c.state.get("ExitCode") or 0), str(c.state.get("Error") or ""))


def until(
    store: ContainerStore, c: Container, condition: str, since_ns: int, until_ns: int | None = None, poll: float = 1.0
) -> Iterator[Exit | None]:
    """None every `poll` seconds while waiting (a streaming caller notices a closed peer), then the Exit once
    `condition` is met by what happened from `since_ns` on; it ends without one at `until_ns`."""
    if condition == "not-running" and not c.running and not c.restarting:
        yield _now(c)
        return
    restarting = c.restarting
    for event in store.events.subscribe(since_ns, until_ns, poll):
        if event is None:
            if restarting and condition != "removed" and c.state["Status"] in ("exited", "created"):
                yield _now(c)  # its restart failed or was cancelled: it will not run again
                return
            yield None
        elif event["Type"] == "container" and event["Actor"]["ID"] == c.id:
            if event["Action"] == "destroy":
                yield _now(c)
                return
            if event["Action"] == "die" and condition != "removed":
                code = event["Actor"]["Attributes"].get("exitCode", "")
                yield Exit(int(code), "") if code.lstrip("-").isdigit() else _now(c)
                return
