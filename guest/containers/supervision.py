"""Supervision: each running container's exit is watched and recorded, then --rm or the restart policy applies;
after an agent (re)start, recover() follows the containers still running and collects the exits it missed."""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from .. import paths
from ..errors import EngineError
from ..images import overlay
from ..network import hosts, namespace
from . import cgroups, logconfig, logrotation, monitor
from .lifecycle import Lifecycle
from .record import Container, now_rfc3339

log = logging.getLogger("guest.containers")

_ROTATION_TICK_MS = 50  # how often a capped log is rotated: conmon may write two files' worth in between


class Containers(Lifecycle):
    """The engine's containers: their records and lifecycle, supervised."""

    def start(self, c: Container) -> bool:
        if not super().start(c):
            return False
        self._watch(c)
        return True

    def _watch(self, c: Container) -> None:
        threading.Thread(target=self._wait_exit, args=(c,), daemon=True, name=f"watch-{c.id[:12]}").start()

    def _wait_exit(self, c: Container) -> None:
        """Wait for the container's conmon to end, rotating its capped log meanwhile."""
        limits = logconfig.limits(c.data["HostConfig"])
        pid = monitor.conmon_pid(c.bundle)
        if pid is not None:
            try:
                fd = os.pidfd_open(pid)
                try:
                    poller = select.poll()  # not select(): descriptors past 1024 are common with many clients
                    poller.register(fd, select.POLLIN)
                    while not poller.poll(_ROTATION_TICK_MS if limits else None):
                        self._rotate(c, limits)
                finally:
                    os.close(fd)
            except (AttributeError, OSError):
                while monitor.conmon_pid(c.bundle) is not None:
                    self._rotate(c, limits)
                    time.sleep(0.05)
        self._finish(c)

    def _rotate(
        self, c: Container, limits: logconfig.Limits | None, step: Callable[[Path, int], None] = logrotation.tick
    ) -> None:
        """A rotation `step` on the container's capped log (a failure is logged: the container runs on)."""
        if limits:
            try:
                step(c.log_path, limits.files)
            except OSError as e:
                log.warning("container %s: its log could not be rotated: %s", c.name, e)

    def _finish(self, c: Container) -> None:
        """Record the exit; then remove (--rm) or restart (restart policy)."""
        self._rotate(c, logconfig.limits(c.data["HostConfig"]), logrotation.settle)
        with c.lock:
            if not c.running:
                return
            try:
                code = int((self.exits / c.id).read_text().strip())
            except (OSError, ValueError):
                code = 137 if c.state["Status"] == "running" else -1
            oom = cgroups.oom_kills(c.id) > 0  # read before release() deletes the cgroup
            self.release(c)
            restart = self._should_restart(c, code)
            delay = min(0.1 * (2 ** c.data["RestartCount"]), 10)
            if restart:
                c.data["RestartCount"] += 1  # counted at the exit, as dockerd counts it
            c.state.update(  # a container waiting for its restart is running to dockerd, restarting to docker ps
                Status="restarting" if restart else "exited",
                Running=restart,
                Restarting=restart,
                Paused=False,
                Pid=0,
                ExitCode=code,
                OOMKilled=oom,
                FinishedAt=now_rfc3339(),
            )
            if self.persist(c):
                (self.exits / c.id).unlink(missing_ok=True)  # recorded: recovery needs it no more
        hosts.refresh_running(self.all())
        self.emit(c, "die", {"exitCode": str(code)})
        self.notify()
        if c.data["HostConfig"].get("AutoRemove"):
            self.remove(c, force=True, volumes=True)
            return
        if restart:
            timer = threading.Timer(delay, self._restart_after_exit, args=(c,))
            timer.daemon = True  # a pending restart must not keep a stopping agent alive
            timer.start()

    def _should_restart(self, c: Container, code: int) -> bool:
        policy = c.data["HostConfig"].get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if c.data.get("ManualStop") or not self.exists(c):
            return False
        if name in ("always", "unless-stopped"):
            return True
        if name == "on-failure" and code != 0:
            limit = int(policy.get("MaximumRetryCount") or 0)
            return limit == 0 or c.data["RestartCount"] < limit
        return False

    def _restart_after_exit(self, c: Container) -> None:
        """The pending restart, unless a stop, kill or removal cancelled it; when the start fails, the container
        is left exited with the error (start() records it)."""
        if not self.exists(c) or not c.restarting:
            return
        try:
            self.start(c)
            self.emit(c, "restart")
        except EngineError as e:
            log.warning("restarting %s failed: %s", c.name, e.message)

    def recover(self) -> None:
        """After an agent (re)start, in the background while the agent serves: the exit files' tmpfs mounted, the
        networks of the running containers set up; then the runtime reconciled with the records: what a start cut
        short left (a conmon, a runtime container created or even running, under a record that never said running)
        is stopped; runtime containers and folders without a record (a creation or removal cut short) are deleted.
        Then follow the containers still running, record the exits missed, remove --rm containers that are not
        running (as dockerd does) and apply restart policies. A container that cannot be recovered is logged and
        left as it is: it never keeps the agent from starting."""
        monitor.mount_exit_dir(self.exits)
        self.networks.set_up_used(self.all())
        held = self.runtime.containers()
        for c in self.all():
            try:
                self._recover(c, held)
            except Exception as e:
                log.warning("container %s could not be recovered: %r", c.id[:12], e)
        known = {c.id for c in self.all()}
        for cid in held:
            if cid not in known:
                log.warning("deleting the runtime's container %s: it has no record any more", cid[:12])
                self.runtime.delete(cid)
        for folder in self.leftovers:
            log.warning("removing %s: its creation or removal was cut short (no container.json)", folder)
            namespace.delete_leftover(folder.name)
            overlay.unmount(folder / "bundle" / "rootfs")
            paths.discard(folder)
        self.leftovers.clear()

    def _recover(self, c: Container, held: Mapping[str, str]) -> None:
        if not c.running and (c.id in held or monitor.conmon_pid(c.bundle) is not None):
            self._stop_cut_short_start(c)
        if c.data["HostConfig"].get("AutoRemove") and not c.running:
            self.remove(c, force=True, volumes=True)
            return
        if c.restarting:  # the agent ended while a restart was pending
            threading.Thread(target=self._restart_after_exit, args=(c,), daemon=True).start()
            return
        if not c.running:
            return
        if monitor.conmon_pid(c.bundle) is not None:
            log.info("container %s is still running", c.name)
            try:
                self.networks.resume(c)
            except EngineError as e:
                log.warning("container %s: %s", c.name, e.message)
            self._watch(c)
        elif (self.exits / c.id).exists():
            self._finish(c)
        else:  # the machine rebooted: nothing ran it any more
            policy = (c.data["HostConfig"].get("RestartPolicy") or {}).get("Name")
            restart = policy in ("always", "unless-stopped") and not c.data.get("ManualStop")
            with c.lock:
                self.release(c)
                c.state.update(
                    Status="restarting" if restart else "exited",
                    Running=restart,
                    Restarting=restart,
                    Pid=0,
                    ExitCode=255,
                    FinishedAt=now_rfc3339(),
                )
                self.persist(c)
            if restart:
                threading.Thread(target=self._restart_after_exit, args=(c,), daemon=True).start()

    def _stop_cut_short_start(self, c: Container) -> None:
        """The agent ended while starting `c`: no client saw it start and its record does not say it runs, so
        what the start left is stopped and released, and the record says why."""
        log.warning("container %s: its start was cut short by the agent's end: stopping what it left", c.name)
        with c.lock:
            monitor.stop_leftover(self.runtime, c.id, c.bundle)
            self.release(c)
            (self.exits / c.id).unlink(missing_ok=True)
            c.state["Error"] = "the agent stopped while it was starting the container"
            self.persist(c)
