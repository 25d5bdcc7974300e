"""Health checks as dockerd runs them: each running container with a Healthcheck (its own or its image's) is probed
every Interval (StartInterval during its StartPeriod) by running Test inside it; State.Health keeps the status
(starting, healthy, unhealthy), the failing streak and the last 5 results, and each change of status is a
`health_status: STATUS` event. Probes follow the containers through the event bus: a start begins them, the
container's exit ends them."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .. import times
from ..events import Events
from .execs import Execs
from .healthcheck import probe_command
from .record import Container, now_rfc3339
from .supervision import Containers

log = logging.getLogger("guest.health")

SECOND = 1_000_000_000
DEFAULTS = {"Interval": 30 * SECOND, "Timeout": 30 * SECOND, "StartPeriod": 0, "StartInterval": 5 * SECOND}
RETRIES = 3
KEPT_RESULTS = 5
MAX_OUTPUT = 4096


class Health:
    """Runs the probes of the running containers."""

    def __init__(self, containers: Containers, execs: Execs, events: Events):
        self.containers = containers
        self.execs = execs
        self.events = events
        self._probing: set[str] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._follow, daemon=True, name="health").start()
        for c in containers.all():
            if c.running:
                self._begin(c, fresh=False)

    def _follow(self) -> None:
        for event in self.events.subscribe(poll=3600):
            if event and event["Type"] == "container" and event["Action"] == "start":
                try:
                    self._begin(self.containers.get(event["Actor"]["ID"]), fresh=True)
                except Exception:  # one container's record must not stop the probes of the others
                    log.exception("health checks of %s not started", event["Actor"]["ID"][:12])

    def _begin(self, c: Container, fresh: bool) -> None:
        check = c.data["Config"].get("Healthcheck") or {}
        command = probe_command(check, c.data["Config"].get("Shell"))
        if command is None:
            return
        with self._lock:
            if c.id in self._probing:
                return
            self._probing.add(c.id)
        if fresh or not c.state.get("Health"):
            with c.lock:
                c.state["Health"] = {"Status": "starting", "FailingStreak": 0, "Log": []}
                c.save()
        started = c.state["StartedAt"]
        threading.Thread(target=self._probe_loop, args=(c, check, command, started), daemon=True).start()

    def _probe_loop(self, c: Container, check: dict[str, Any], command: list[str], started: str) -> None:
        """Probe until the container stops (or starts anew: that run has a loop of its own)."""
        try:
            settings = {k: int(check.get(k) or default) for k, default in DEFAULTS.items()}
            while True:
                in_start_period = time.time() - times.parse(started) < settings["StartPeriod"] / SECOND
                starting = c.state.get("Health", {}).get("Status") == "starting"
                wait = settings["StartInterval" if in_start_period and starting else "Interval"] / SECOND
                if not self._sleep_while_running(c, started, wait):
                    return
                self._record(c, check, self._run(c, command, settings["Timeout"] / SECOND), started, settings)
        finally:
            with self._lock:
                self._probing.discard(c.id)

    def _sleep_while_running(self, c: Container, started: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self._same_run(c, started):
                return False
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0)))
        return self._same_run(c, started)

    def _same_run(self, c: Container, started: str) -> bool:
        return self.containers.exists(c) and c.running and c.state["StartedAt"] == started

    def _run(self, c: Container, command: list[str], timeout: float) -> dict[str, Any]:
        start = now_rfc3339()
        code, output = self.execs.run(c, command, timeout)
        if code is None:
            code, output = -1, f"Health check exceeded timeout ({timeout:g}s)"
        return {"Start": start, "End": now_rfc3339(), "ExitCode": code, "Output": output[:MAX_OUTPUT]}

    def _record(
        self, c: Container, check: dict[str, Any], result: dict[str, Any], started: str, settings: dict[str, int]
    ) -> None:
        with c.lock:
            if not self._same_run(c, started):
                return
            health = c.state.setdefault("Health", {"Status": "starting", "FailingStreak": 0, "Log": []})
            before = health["Status"]
            if result["ExitCode"] == 0:
                health.update(Status="healthy", FailingStreak=0)
            elif before != "starting" or times.parse(result["Start"]) - times.parse(started) >= (
                settings["StartPeriod"] / SECOND
            ):
                health["FailingStreak"] += 1
                if health["FailingStreak"] >= int(check.get("Retries") or RETRIES):
                    health["Status"] = "unhealthy"
            health["Log"] = [*health["Log"], result][-KEPT_RESULTS:]
            c.save()
        if health["Status"] != before:
            self.containers.emit(c, f"health_status: {health['Status']}")
