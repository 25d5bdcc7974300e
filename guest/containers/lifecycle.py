"""Running containers: start (rootfs, networks, spec, conmon, runtime), kill, stop, remove, pause, and joining or
leaving networks."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from typing import Any, NoReturn

from ..errors import Conflict, EngineError, InvalidInput, NotFound, SystemFailure
from ..network import endpoints, hosts, links
from . import attach, etcfiles, logconfig, logrotation, monitor, rootfs, signals, spec, starterrors, subpath
from .record import ZERO_TIME, Container, now_rfc3339
from .runtime import OCIRuntimeError
from .store import ContainerStore


class Lifecycle(ContainerStore):
    """The records, and what starts, stops and removes the containers they describe."""

    def start(self, c: Container) -> bool:
        """Start the container; False when it was already running (the API answers 304)."""
        with c.lock:
            if c.running:
                return False
            if not self.exists(c):  # removed while this start waited for the lock (a pending restart's)
                raise NotFound(f"No such container: {c.id}")
            try:
                rootfs.mount(c, self.images.get(c.data["Image"]).layers)
                rootfs.populate_volumes(c)
                rootfs.make_workdir(c)
                netns = self.networks.prepare(c, self.used_ips(c), self._peer_netns(c))
                linked = links.environment(c, self.all())
                files = etcfiles.write(c, self.all(), self.networks)
                (c.bundle / "config.json").write_text(json.dumps(spec.build(c, netns, files, linked)))
                (self.exits / c.id).unlink(missing_ok=True)
                (c.bundle / "pidfile").unlink(missing_ok=True)  # the runtime writes it anew once it created it
                self.runtime.delete(c.id)
                config = c.data["Config"]
                limits = logconfig.limits(c.data["HostConfig"])
                if limits:
                    logrotation.prepare(c.log_path, limits.files)
                pid = monitor.launch(
                    self.runtime,
                    c.id,
                    c.bundle,
                    c.log_path if logconfig.kept(c.data["HostConfig"]) else None,
                    self.exits,
                    c.tty,
                    bool(config.get("OpenStdin")),
                    bool(config.get("StdinOnce")),
                    limits.size if limits else 0,
                )
                attach.attachers_ready(self, c)
                self.runtime.run("start", c.id)
            except EngineError as e:
                self._failed_start(c, e.message, e)
            except (OCIRuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
                self._failed_start(c, str(e))
            c.state.update(
                Status="running",
                Running=True,
                Paused=False,
                Restarting=False,
                OOMKilled=False,
                Pid=pid,
                ExitCode=0,
                Error="",
                StartedAt=now_rfc3339(),
                FinishedAt=ZERO_TIME,
            )
            c.data["ManualStop"] = False
            self.persist(c)
        hosts.refresh(c, self.all())
        self.emit(c, "start")
        self.notify()
        return True

    def _failed_start(self, c: Container, message: str, error: EngineError | None = None) -> NoReturn:
        """Undo a start that failed and record why (exit code as Docker gives it); wake the attach calls waiting
        for it, remove an --rm container (its client waits for that); then raise `error` or the runtime's."""
        self.release(c)
        c.state.update(
            Status="created" if c.state["Status"] == "created" else "exited",
            Running=False,
            Restarting=False,
            Error=message,
            ExitCode=starterrors.exit_code(message) or 128,
        )
        c.failed_starts += 1
        self.persist(c)
        self.notify()
        if c.data["HostConfig"].get("AutoRemove"):
            threading.Thread(target=self.remove, args=(c, True, True), daemon=True).start()
        if error is not None:
            raise error
        raise starterrors.error(f"failed to create task for container: {message}") from None

    def release(self, c: Container) -> None:
        """What a container holds while it runs, given back: the runtime's state, its networks, its rootfs."""
        self.runtime.delete(c.id)
        self.networks.release(c)
        subpath.unpin_all(c.path / "subpaths")
        rootfs.unmount(c)

    def _peer_netns(self, c: Container) -> str | None:
        mode = c.data["HostConfig"].get("NetworkMode") or ""
        if not mode.startswith("container:"):
            return None
        peer = self.get(mode.split(":", 1)[1])
        return f"/proc/{peer.state['Pid']}/ns/net" if peer.running and peer.state.get("Pid") else None

    # -- stop, kill, remove, pause --------------------------------------------------------------
    def cancel_restart(self, c: Container) -> bool:
        """Cancel the pending restart of a restarting container, which stays exited; False if none was pending."""
        with c.lock:
            if not c.restarting:
                return False
            c.data["ManualStop"] = True
            c.state.update(Status="exited", Running=False, Restarting=False)
            self.persist(c)
        self.notify()
        return True

    def kill(self, c: Container, sig: str | int | None = None) -> None:
        number = signals.number(sig, signal.SIGKILL)
        if self.cancel_restart(c):  # nothing runs: cancelling the restart is the kill
            self.emit(c, "kill", {"signal": str(number)})
            return
        with c.lock:
            if not c.running:
                raise Conflict(f"Cannot kill container: {c.name}: Container {c.id} is not running")
            if number in (signal.SIGKILL, signals.number(c.data["Config"].get("StopSignal"), signal.SIGTERM)):
                c.data["ManualStop"] = True  # a fatal signal disables the restart policy until the next start
                self.persist(c)
            try:
                self.runtime.kill(c.id, str(number))
                if number == signal.SIGKILL and c.state.get("Paused"):  # frozen (cgroup v1), it dies once thawed
                    self.runtime.run("resume", c.id, check=False)
            except OCIRuntimeError as e:
                if "not running" not in str(e) and "container not found" not in str(e):
                    raise SystemFailure(f"Cannot kill container {c.name}: {e}") from None
        self.emit(c, "kill", {"signal": str(number)})

    def stop(self, c: Container, timeout: int | None = None, sig: str | None = None) -> bool:
        """Stop with the stop signal, then SIGKILL after the timeout (a restarting container: cancel its restart);
        False if it was not running."""
        if self.cancel_restart(c):
            self.emit(c, "stop")
            return True
        if not c.running:
            return False
        c.data["ManualStop"] = True
        self.persist(c)
        if c.state.get("Paused"):
            self.runtime.run("resume", c.id, check=False)
        wait = 10 if timeout is None else timeout
        try:
            self.kill(c, sig or c.data["Config"].get("StopSignal") or "SIGTERM")
        except EngineError:
            pass
        if wait < 0:
            self.wait_stopped(c, None)
        elif not self.wait_stopped(c, wait):
            try:
                self.kill(c, "SIGKILL")
            except EngineError:
                pass
            self.wait_stopped(c, 30)
        self.emit(c, "stop")
        return True

    def remove(self, c: Container, force: bool, volumes: bool) -> None:
        if c.restarting and not force:
            raise Conflict(
                f"You cannot remove a restarting container {c.id}. Stop the container before "
                f"attempting removal or force remove"
            )
        self.cancel_restart(c)
        killed = False
        while True:
            if c.running:
                if not force:
                    raise Conflict(
                        f"You cannot remove a running container {c.id}. Stop the container before "
                        f"attempting removal or force remove"
                    )
                c.data["ManualStop"] = True
                try:
                    self.kill(c, "SIGKILL")
                except EngineError:
                    pass
                self.wait_stopped(c, 30)  # a record that says running with nothing behind it never stops
                killed = True
            with c.lock:  # never beside a start: what it makes (namespace, mounts, process) would outlive the record
                if c.running and not killed:
                    continue  # a start finished meanwhile: killed first
                if not self.forget(c):
                    return
                self.release(c)
            break
        self.delete_folder(c.path)
        (self.exits / c.id).unlink(missing_ok=True)
        if volumes:
            for m in c.data["Mounts"]:
                if m["Type"] == "volume" and m.get("Anonymous") and not self.volume_users(m["Name"]):
                    try:
                        self.volumes.remove(m["Name"], [])
                    except EngineError:
                        pass
        self.emit(c, "destroy")
        self.notify()

    def prune(self) -> tuple[list[str], int]:
        """Remove every container that is not running; (their IDs, the bytes their writable layers held)."""
        deleted, reclaimed = [], 0
        for c in self.all():
            if c.state["Status"] in ("exited", "created", "dead"):
                size = rootfs.size_rw(c)
                self.remove(c, force=False, volumes=False)
                deleted.append(c.id)
                reclaimed += size
        return deleted, reclaimed

    def pause(self, c: Container, pause: bool) -> None:
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if bool(c.state.get("Paused")) == pause:
            raise Conflict(f"Container {c.id} is {'already' if pause else 'not'} paused")
        self.runtime.run("pause" if pause else "resume", c.id)
        c.state.update(Paused=pause, Status="paused" if pause else "running")
        self.persist(c)
        self.emit(c, "pause" if pause else "unpause")

    def shutdown(self) -> None:
        """Stop every container and remove what networking put on the host (agent --cleanup)."""
        for c in self.all():
            if c.running:
                c.data["ManualStop"] = True
                self.stop(c, 5)
        self.networks.teardown_host()

    # -- networks -------------------------------------------------------------------------------
    def connect(self, c: Container, record: dict[str, Any], endpoint: dict[str, Any]) -> None:
        """Join network `record` with `endpoint` (its address, aliases, MAC): at once when running, and at every
        start after, as dockerd keeps the networks a container was connected to."""
        endpoints.check(record, endpoint)
        with c.lock:
            configs = c.data.setdefault("NetworkingConfig", {}).setdefault("EndpointsConfig", {})
            before = configs.get(record["Name"])
            configs[record["Name"]] = endpoints.kept(endpoint)
            if c.running:
                try:
                    self.networks.connect(c, record, self.used_ips(c))
                except EngineError:
                    if before is None:
                        configs.pop(record["Name"])
                    else:
                        configs[record["Name"]] = before
                    raise
            extra = c.data.setdefault("ExtraNetworks", [])
            if record["Name"] not in extra:
                extra.append(record["Name"])
            c.save()
        hosts.refresh(c, self.all())

    def unlink(self, ref: str) -> None:
        """Remove the link `parent/alias` from its container (docker rm --link), as dockerd's rmLink: its
        /etc/hosts entry goes at once, its variables with the next start."""
        if "/" not in ref.strip("/"):
            self.get(ref)  # 404 for no such container
            raise InvalidInput("Conflict, cannot remove the default link name of the container")
        found = links.find(ref, self.all())
        if found is None:
            raise NotFound(f"No such container: {ref}")
        parent, link = self.get(found[0].id), found[1]
        with parent.lock:
            parent.data["HostConfig"]["Links"] = [k for k in parent.data["HostConfig"].get("Links") or [] if k != link]
            parent.save()
        if parent.running:
            hosts.write(parent, self.all())

    def disconnect(self, c: Container, record: dict[str, Any]) -> None:
        """Leave network `record` (a stopped container no longer joins it at start)."""
        with c.lock:
            if c.running:
                self.networks.disconnect(c, record)
            c.data["ExtraNetworks"] = [n for n in c.data.get("ExtraNetworks", []) if n != record["Name"]]
            ((c.data.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).pop(record["Name"], None)
            c.save()
        hosts.refresh_running(self.all())
