"""Containers: records on disk, rootfs on overlayfs, lifecycle through conmon and the OCI runtime.

Per container, under `containers/<id>/`: `container.json` (the record, written atomically), `upper/`
and `work/` (overlay), `bundle/` (OCI config.json, rootfs mount point, conmon's ctl/attach), `ctr.log`
(conmon's log) and `hosts`, `hostname`, `resolv.conf`. Exit codes land in `exits/<id>`. A container's
conmon outlives the agent; on start-up `recover()` finds the running ones again and collects the exits
that happened while the agent was away.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import monitor, ocispec
from .errors import Conflict, EngineError, InvalidInput, NotFound, SystemFailure, Unsupported
from .events import Events
from .imagestore import ImageStore
from .network import HOST, Networks
from .runtime import OCIRuntimeError, Runtime, choose
from .volumes import VolumeStore

log = logging.getLogger("guest.containers")

_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ZERO_TIME = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _signal_number(sig: str | int | None, default: int = signal.SIGTERM) -> int:
    if sig in (None, ""):
        return default
    if isinstance(sig, int) or str(sig).isdigit():
        return int(sig)
    name = str(sig).upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidInput(f"invalid signal: {sig}") from None


class Container:
    """One container's record (Docker-shaped, so inspect is mostly a copy) and its paths."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data
        self.lock = threading.RLock()
        self.attach_waiters = 0  # attach calls that arrived before start, waiting for conmon
        self.attached = threading.Semaphore(0)  # released by each of them once connected
        self.exit_count = 0  # exits seen by this agent (wait?condition=next-exit)

    @property
    def id(self) -> str:
        return str(self.data["Id"])

    @property
    def name(self) -> str:
        return str(self.data["Name"]).lstrip("/")

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.data["State"]
        return state

    @property
    def running(self) -> bool:
        return self.state["Status"] in ("running", "paused")

    @property
    def bundle(self) -> Path:
        return self.path / "bundle"

    @property
    def rootfs(self) -> Path:
        return self.bundle / "rootfs"

    @property
    def log_path(self) -> Path:
        return self.path / "ctr.log"

    @property
    def tty(self) -> bool:
        return bool(self.data["Config"].get("Tty"))

    def save(self) -> None:
        tmp = self.path / "container.json.tmp"
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path / "container.json")


class Containers:
    def __init__(self, root: Path, images: ImageStore, volumes: VolumeStore, events: Events, runtime: str):
        self.root = root
        self.images = images
        self.volumes = volumes
        self.events = events
        self.exits = root.parent / "exits"
        for d in (root, self.exits):
            d.mkdir(parents=True, exist_ok=True)
        self.runtime = Runtime(choose(runtime), root.parent / "runtime")
        self.changed = threading.Condition()
        self._lock = threading.RLock()
        self._by_id: dict[str, Container] = {}
        for entry in sorted(root.iterdir()):
            try:
                data = json.loads((entry / "container.json").read_text())
                self._by_id[data["Id"]] = Container(entry, data)
            except (OSError, ValueError, KeyError):
                log.warning("ignoring %s: no readable container.json", entry)
        self.networks = Networks(root.parent / "networks", self.all)

    # -- lookup ---------------------------------------------------------------------------------
    def all(self) -> list[Container]:
        with self._lock:
            return list(self._by_id.values())

    def get(self, ref: str) -> Container:
        with self._lock:
            if ref in self._by_id:
                return self._by_id[ref]
            name = ref.lstrip("/")
            for c in self._by_id.values():
                if c.name == name:
                    return c
            matches = [c for c in self._by_id.values() if c.id.startswith(ref)] if ref else []
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidInput(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def image_users(self, image_id: str) -> list[str]:
        return [c.id for c in self.all() if c.data["Image"] == image_id]

    def volume_users(self, name: str) -> list[str]:
        return [c.id for c in self.all() if any(m.get("Name") == name for m in c.data["Mounts"])]

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def emit(self, c: Container, action: str, extra: dict[str, str] | None = None) -> None:
        attrs = {
            "image": c.data["Config"].get("Image", ""),
            "name": c.name,
            **(c.data["Config"].get("Labels") or {}),
            **(extra or {}),
        }
        self.events.emit("container", action, c.id, attrs)

    # -- create ---------------------------------------------------------------------------------
    def create(self, body: dict[str, Any], name: str | None) -> Container:
        if not isinstance(body, dict):
            raise InvalidInput("invalid container config: expected a JSON object")
        image_ref = body.get("Image")
        if not image_ref:
            raise InvalidInput("config.Image is required: which image should the container run?")
        image = self.images.resolve(image_ref)
        if name is not None and not _NAME.match(name):
            raise InvalidInput(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        host_config = body.get("HostConfig") or {}
        if not isinstance(host_config, dict):
            raise InvalidInput("invalid HostConfig: expected a JSON object")
        image_config = image.config.get("config") or {}
        config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
        config["Image"] = image_ref
        config["Env"] = _merge_env(image_config.get("Env") or [], body.get("Env") or [])
        if not body.get("Entrypoint") and not body.get("Cmd"):
            config["Cmd"] = image_config.get("Cmd")
        if body.get("Entrypoint") is None:
            config["Entrypoint"] = image_config.get("Entrypoint")
        config["WorkingDir"] = body.get("WorkingDir") or image_config.get("WorkingDir") or ""
        config["User"] = body.get("User") or image_config.get("User") or ""
        config["Labels"] = {**(image_config.get("Labels") or {}), **(body.get("Labels") or {})}
        config["ExposedPorts"] = {**(image_config.get("ExposedPorts") or {}), **(body.get("ExposedPorts") or {})}
        config["StopSignal"] = body.get("StopSignal") or image_config.get("StopSignal")
        if not (config.get("Entrypoint") or []) + (config.get("Cmd") or []):
            raise InvalidInput("no command specified")
        cid = os.urandom(32).hex()
        config["Hostname"] = body.get("Hostname") or cid[:12]
        if not (host_config.get("LogConfig") or {}).get("Type"):
            host_config["LogConfig"] = {"Type": "json-file", "Config": {}}  # docker-py reads logs only for this
        host_config.setdefault("NetworkMode", "default")
        host_config.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
        policy = (host_config.get("RestartPolicy") or {}).get("Name") or "no"
        if policy not in ("no", "always", "unless-stopped", "on-failure"):
            raise InvalidInput(f"invalid restart policy {policy!r}")
        if policy != "no" and host_config.get("AutoRemove"):
            raise Conflict("conflicting options: cannot specify both --restart and --rm")
        mode = host_config.get("NetworkMode") or "default"
        if mode not in ("default", "bridge", "host", "none") and not mode.startswith("container:"):
            self.networks.get(mode)  # 404 for an unknown network
        for extra in (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}:
            self.networks.get(extra)
        mounts = self._mounts(body, host_config, image_config)
        with self._lock:
            name = (name or _generated_name(set(c.name for c in self._by_id.values()))).lstrip("/")
            for other in self._by_id.values():
                if other.name == name:
                    raise Conflict(
                        f'Conflict. The container name "/{name}" is already in use by container '
                        f'"{other.id}". You have to remove (or rename) that container to be able to '
                        f"reuse that name."
                    )
            path = self.root / cid
            for d in ("upper", "work", "bundle/rootfs"):
                (path / d).mkdir(parents=True)
            data = {
                "Id": cid,
                "Name": f"/{name}",
                "Created": now_rfc3339(),
                "Image": image.id,
                "Config": config,
                "HostConfig": host_config,
                "Mounts": mounts,
                "RestartCount": 0,
                "NetworkingConfig": body.get("NetworkingConfig") or {},
                "ManualStop": False,
                "Path": "",
                "Args": [],
                "State": {
                    "Status": "created",
                    "Running": False,
                    "Paused": False,
                    "Restarting": False,
                    "OOMKilled": False,
                    "Dead": False,
                    "Pid": 0,
                    "ExitCode": 0,
                    "Error": "",
                    "StartedAt": ZERO_TIME,
                    "FinishedAt": ZERO_TIME,
                },
            }
            args = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
            data["Path"], data["Args"] = args[0], args[1:]
            container = Container(path, data)
            container.save()
            self._by_id[cid] = container
        self.emit(container, "create")
        return container

    def _mounts(
        self, body: dict[str, Any], host_config: dict[str, Any], image_config: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Mount records from -v binds, named and anonymous volumes, --mount and the image's VOLUMEs."""
        mounts: list[dict[str, Any]] = []
        taken: set[str] = set()

        def add_volume(name: str | None, dest: str, rw: bool, mode: str = "") -> None:
            volume = self.volumes.create(name)
            mounts.append(
                {
                    "Type": "volume",
                    "Name": volume["Name"],
                    "Source": volume["Mountpoint"],
                    "Destination": dest,
                    "Driver": "local",
                    "Mode": mode,
                    "RW": rw,
                    "Propagation": "",
                    "Anonymous": name is None,
                }
            )
            taken.add(dest)

        for spec in host_config.get("Binds") or []:
            parts = spec.split(":")
            if len(parts) == 1:
                add_volume(None, _container_path(parts[0]), True)
                continue
            source, dest, mode = parts[0], _container_path(parts[1]), (parts[2] if len(parts) > 2 else "")
            rw = "ro" not in mode.split(",")
            if source.startswith("/"):
                os.makedirs(source, exist_ok=True)
                mounts.append(
                    {
                        "Type": "bind",
                        "Source": source,
                        "Destination": dest,
                        "Mode": mode,
                        "RW": rw,
                        "Propagation": "rprivate",
                    }
                )
                taken.add(dest)
            else:
                add_volume(source, dest, rw, mode)
        for m in host_config.get("Mounts") or []:
            kind, target = m.get("Type", "volume"), _container_path(m.get("Target") or "")
            rw = not m.get("ReadOnly")
            if kind == "bind":
                if not os.path.exists(m.get("Source") or ""):
                    raise InvalidInput(
                        f'invalid mount config for type "bind": bind source path does not exist: {m.get("Source")}'
                    )
                mounts.append(
                    {
                        "Type": "bind",
                        "Source": m["Source"],
                        "Destination": target,
                        "Mode": "",
                        "RW": rw,
                        "Propagation": "rprivate",
                    }
                )
                taken.add(target)
            elif kind == "volume":
                add_volume(m.get("Source") or None, target, rw)
            elif kind == "tmpfs":
                mounts.append(
                    {"Type": "tmpfs", "Source": "", "Destination": target, "Mode": "", "RW": True, "Propagation": ""}
                )
                taken.add(target)
            else:
                raise Unsupported(f"mount type {kind!r} is not supported")
        for dest in list(body.get("Volumes") or {}) + list(image_config.get("Volumes") or {}):
            if _container_path(dest) not in taken:
                add_volume(None, _container_path(dest), True)
        return mounts

    # -- start ----------------------------------------------------------------------------------
    def start(self, c: Container) -> bool:
        """Start the container; False when it was already running (the API answers 304)."""
        with c.lock:
            if c.running:
                return False
            image = self.images.get(c.data["Image"])
            self.mount_rootfs(c, image.layers)
            try:
                self._populate_volumes(c)
                netns = self.networks.prepare(c, self.used_ips(c), self._peer_netns(c))
                spec = self._spec(c, netns)
                (c.bundle / "config.json").write_text(json.dumps(spec))
                (self.exits / c.id).unlink(missing_ok=True)
                self.runtime.delete(c.id)
                config = c.data["Config"]
                pid = monitor.launch(
                    self.runtime, c.id, c.bundle, c.log_path, self.exits, c.tty, bool(config.get("OpenStdin"))
                )
                self._attachers_ready(c)
                self.runtime.run("start", c.id)
            except EngineError:
                self.networks.release(c)
                self.unmount_rootfs(c)
                raise
            except (OCIRuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
                self.runtime.delete(c.id)
                self.networks.release(c)
                self.unmount_rootfs(c)
                message = str(e)
                c.state.update(
                    Status="created" if c.state["Status"] == "created" else "exited",
                    Error=message,
                    ExitCode=127
                    if "executable file not found" in message or "no such file" in message
                    else 126
                    if "permission denied" in message
                    else 128,
                )
                c.save()
                self._notify()
                if c.data["HostConfig"].get("AutoRemove"):
                    threading.Thread(target=self.remove, args=(c, True, True), daemon=True).start()
                failure = InvalidInput if "not found" in message or "no such file" in message else SystemFailure
                raise failure(f"failed to create task for container: {message}") from None
            c.state.update(
                Status="running",
                Running=True,
                Paused=False,
                Restarting=False,
                Pid=pid,
                ExitCode=0,
                Error="",
                StartedAt=now_rfc3339(),
                FinishedAt=ZERO_TIME,
            )
            c.data["ManualStop"] = False
            c.save()
        self.refresh_hosts(c)
        self.emit(c, "start")
        self._notify()
        self._watch(c)
        return True

    def mount_rootfs(self, c: Container, layers: list[Path]) -> None:
        if os.path.ismount(c.rootfs):
            return
        lower = [str(p) for p in reversed(layers)]
        if not lower:
            empty = c.path / "empty"
            empty.mkdir(exist_ok=True)
            lower = [str(empty)]
        options = f"lowerdir={':'.join(lower)},upperdir={c.path / 'upper'},workdir={c.path / 'work'}"
        if len(options) > 3000:  # the mount data page limit: mount from the layers folder with short paths
            raise OCIRuntimeError("image has too many layers to mount")
        result = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(c.rootfs)], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise OCIRuntimeError(f"mounting the container's filesystem failed: {result.stderr.strip()}")

    def unmount_rootfs(self, c: Container) -> None:
        if os.path.ismount(c.rootfs):
            subprocess.run(["umount", str(c.rootfs)], capture_output=True)
            if os.path.ismount(c.rootfs):
                subprocess.run(["umount", "-l", str(c.rootfs)], capture_output=True)

    def _populate_volumes(self, c: Container) -> None:
        """Copy the image's content at a volume's path into the volume the first time it is used (as Docker)."""
        for m in c.data["Mounts"]:
            if m["Type"] != "volume" or m.get("Populated"):
                continue
            source = Path(m["Source"])
            inside = c.rootfs / m["Destination"].lstrip("/")
            if inside.is_dir() and not inside.is_symlink() and not any(source.iterdir()):
                subprocess.run(["cp", "-a", f"{inside}/.", str(source)], capture_output=True)
            m["Populated"] = True
        c.save()

    def used_ips(self, c: Container) -> set[str]:
        return {
            e.get("IPAddress", "")
            for o in self.all()
            if o.running and o is not c
            for e in ((o.data.get("NetworkSettings") or {}).get("Networks") or {}).values()
        }

    def refresh_hosts(self, around: Container) -> None:
        """Rewrite /etc/hosts of `around` and of every running container that shares a network with it."""
        shared = set((around.data.get("NetworkSettings") or {}).get("Networks") or {})
        for c in self.all():
            networks = set((c.data.get("NetworkSettings") or {}).get("Networks") or {})
            if c is around or (c.running and shared & networks):
                self.write_hosts(c)

    def write_hosts(self, c: Container) -> None:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        own = (c.data.get("NetworkSettings") or {}).get("IPAddress")
        if own:
            lines.append(f"{own}\t{c.data['Config'].get('Hostname') or c.id[:12]}")
        lines += [f"{address}\t{' '.join(names)}" for address, names in self.networks.peers(c, self.all())]
        lines += [
            f"{h.split(':', 1)[1]}\t{h.split(':', 1)[0]}"
            for h in c.data["HostConfig"].get("ExtraHosts") or []
            if ":" in h
        ]
        (c.path / "hosts").write_text("\n".join(lines) + "\n")  # in place: the container has it bind-mounted

    def _peer_netns(self, c: Container) -> str | None:
        mode = c.data["HostConfig"].get("NetworkMode") or ""
        if not mode.startswith("container:"):
            return None
        peer = self.get(mode.split(":", 1)[1])
        return f"/proc/{peer.state['Pid']}/ns/net" if peer.running and peer.state.get("Pid") else None

    def _spec(self, c: Container, netns: str | None) -> dict[str, Any]:
        config, host = c.data["Config"], c.data["HostConfig"]
        args = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
        try:
            user = ocispec.resolve_user(c.rootfs, config.get("User") or "")
        except ValueError as e:
            raise OCIRuntimeError(str(e)) from None
        files = self._etc_files(c)
        mounts = [ocispec.bind(str(files[n]), f"/etc/{n}", False) for n in ("hosts", "hostname", "resolv.conf")]
        for m in c.data["Mounts"]:
            if m["Type"] == "tmpfs":
                mounts.append(
                    {
                        "destination": m["Destination"],
                        "type": "tmpfs",
                        "source": "tmpfs",
                        "options": ["nosuid", "nodev", "mode=1777"],
                    }
                )
            else:
                mounts.append(ocispec.bind(m["Source"], m["Destination"], not m["RW"]))
        spec = ocispec.build(
            rootfs=c.rootfs,
            args=args,
            env=config.get("Env") or [],
            cwd=config.get("WorkingDir") or "/",
            user=user,
            tty=c.tty,
            hostname=config.get("Hostname") or c.id[:12],
            mounts=mounts,
            netns=None if netns == HOST else netns,
            host_network=netns == HOST,
            privileged=bool(host.get("Privileged")),
            cap_add=host.get("CapAdd"),
            cap_drop=host.get("CapDrop"),
            readonly_rootfs=bool(host.get("ReadonlyRootfs")),
        )
        spec["linux"]["cgroupsPath"] = f"/machine/{c.id}"
        return spec

    def _etc_files(self, c: Container) -> dict[str, Path]:
        hostname = c.data["Config"].get("Hostname") or c.id[:12]
        self.write_hosts(c)
        files = {"hostname": hostname + "\n"}
        servers = c.data["HostConfig"].get("Dns") or []
        embedded = self.networks.nameserver(c)
        if servers:
            files["resolv.conf"] = "".join(f"nameserver {d}\n" for d in servers)
        elif embedded:  # user networks: the agent's DNS server knows the other containers by name
            files["resolv.conf"] = f"nameserver {embedded}\noptions ndots:0\n"
        else:
            files["resolv.conf"] = _host_resolv_conf()
        for name, content in files.items():
            (c.path / name).write_text(content)
        return {name: c.path / name for name in ("hosts", "hostname", "resolv.conf")}

    # -- attach (before start) ------------------------------------------------------------------
    def wait_created(self, c: Container, timeout: float | None = None) -> bool:
        """Block until the container's conmon is up (attach socket ready) or it stopped; True if attachable."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.changed:
            while True:
                if (c.bundle / "attach").exists() and monitor.conmon_pid(c.bundle):
                    return True
                if c.id not in self._by_id:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.changed.wait(remaining if remaining is not None else 1.0)

    def _attachers_ready(self, c: Container) -> None:
        """Wake attach calls waiting for the conmon of `c`, and let them connect before start: what the
        container writes before an attacher connects never reaches it. Each attach call signals in a
        `finally` (connected or failed), so the timeout only bounds a stuck one; a busy guest (a VM
        booting under TCG) can take seconds."""
        waiters = c.attach_waiters
        if not waiters:
            return
        self._notify()
        for _ in range(waiters):
            c.attached.acquire(timeout=30)

    # -- exit -----------------------------------------------------------------------------------
    def _watch(self, c: Container) -> None:
        threading.Thread(target=self._wait_exit, args=(c,), daemon=True, name=f"watch-{c.id[:12]}").start()

    def _wait_exit(self, c: Container) -> None:
        pid = monitor.conmon_pid(c.bundle)
        if pid is not None:
            try:
                fd = os.pidfd_open(pid)
                try:
                    select.select([fd], [], [])
                finally:
                    os.close(fd)
            except (AttributeError, OSError):
                while monitor.conmon_pid(c.bundle) is not None:
                    time.sleep(0.05)
        self._finish(c)

    def _finish(self, c: Container) -> None:
        """Record the exit; then remove (--rm) or restart (restart policy)."""
        with c.lock:
            if not c.running:
                return
            try:
                code = int((self.exits / c.id).read_text().strip())
            except (OSError, ValueError):
                code = 137 if c.state["Status"] == "running" else -1
            self.runtime.delete(c.id)
            self.networks.release(c)
            self.unmount_rootfs(c)
            c.state.update(Status="exited", Running=False, Paused=False, Pid=0, ExitCode=code, FinishedAt=now_rfc3339())
            c.exit_count += 1
            c.save()
        for other in self.all():
            if other.running:
                self.write_hosts(other)
        self.emit(c, "die", {"exitCode": str(code)})
        self._notify()
        host = c.data["HostConfig"]
        if host.get("AutoRemove"):
            self.remove(c, force=True, volumes=True)
            return
        if self._should_restart(c, code):
            delay = min(0.1 * (2 ** c.data["RestartCount"]), 10)
            c.state["Restarting"] = True
            timer = threading.Timer(delay, self._restart_after_exit, args=(c,))
            timer.daemon = True  # a pending restart must not keep a stopping agent alive
            timer.start()

    def _should_restart(self, c: Container, code: int) -> bool:
        policy = c.data["HostConfig"].get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if c.data.get("ManualStop") or c.id not in self._by_id:
            return False
        if name in ("always", "unless-stopped"):
            return True
        if name == "on-failure" and code != 0:
            limit = int(policy.get("MaximumRetryCount") or 0)
            return limit == 0 or c.data["RestartCount"] < limit
        return False

    def _restart_after_exit(self, c: Container) -> None:
        if c.id not in self._by_id or c.data.get("ManualStop") or c.running:
            return
        c.data["RestartCount"] += 1
        try:
            self.start(c)
            self.emit(c, "restart")
        except EngineError as e:
            log.warning("restarting %s failed: %s", c.name, e.message)

    # -- stop, kill, remove ---------------------------------------------------------------------
    def kill(self, c: Container, sig: str | int | None = None) -> None:
        number = _signal_number(sig, signal.SIGKILL)
        with c.lock:
            if not c.running:
                raise Conflict(f"Cannot kill container: {c.name}: Container {c.id} is not running")
            try:
                self.runtime.kill(c.id, str(number))
            except OCIRuntimeError as e:
                if "not running" not in str(e) and "container not found" not in str(e):
                    raise SystemFailure(f"Cannot kill container {c.name}: {e}") from None
        self.emit(c, "kill", {"signal": str(number)})

    def wait_stopped(self, c: Container, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.changed:
            while c.running:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.changed.wait(remaining)
        return True

    def stop(self, c: Container, timeout: int | None = None, sig: str | None = None) -> bool:
        """Stop with the stop signal, then SIGKILL after the timeout; False if it was not running."""
        if not c.running:
            return False
        c.data["ManualStop"] = True
        c.save()
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
            self.wait_stopped(c, 30)
        with self._lock:
            if c.id not in self._by_id:
                return
            del self._by_id[c.id]
        self.runtime.delete(c.id)
        self.networks.release(c)
        self.unmount_rootfs(c)
        shutil.rmtree(c.path, ignore_errors=True)
        (self.exits / c.id).unlink(missing_ok=True)
        if volumes:
            for m in c.data["Mounts"]:
                if m["Type"] == "volume" and m.get("Anonymous") and not self.volume_users(m["Name"]):
                    try:
                        self.volumes.remove(m["Name"], [])
                    except EngineError:
                        pass
        self.emit(c, "destroy")
        self._notify()

    def pause(self, c: Container, pause: bool) -> None:
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if bool(c.state.get("Paused")) == pause:
            raise Conflict(f"Container {c.id} is {'already' if pause else 'not'} paused")
        self.runtime.run("pause" if pause else "resume", c.id)
        c.state.update(Paused=pause, Status="paused" if pause else "running")
        c.save()
        self.emit(c, "pause" if pause else "unpause")

    def rename(self, c: Container, new: str) -> None:
        if not _NAME.match(new):
            raise InvalidInput(f"Invalid container name ({new})")
        with self._lock:
            if any(o.name == new.lstrip("/") for o in self._by_id.values() if o is not c):
                raise Conflict(f'Conflict. The container name "/{new}" is already in use')
            old = c.name
            c.data["Name"] = "/" + new.lstrip("/")
            c.save()
        self.emit(c, "rename", {"oldName": f"/{old}"})

    def shutdown(self) -> None:
        """Stop every container and remove what networking put on the host (agent --cleanup)."""
        for c in self.all():
            if c.running:
                c.data["ManualStop"] = True
                self.stop(c, 5)
        self.networks.teardown_host()

    # -- recovery -------------------------------------------------------------------------------
    def recover(self) -> None:
        """After an agent (re)start: follow containers still running, record exits, apply restart policies."""
        for c in self.all():
            if c.data["HostConfig"].get("AutoRemove") and not c.running and c.state["Status"] == "exited":
                self.remove(c, force=True, volumes=True)
                continue
            if not c.running:
                continue
            if monitor.conmon_pid(c.bundle) is not None:
                log.info("container %s is still running", c.name)
                try:
                    self.networks.publish(c)
                except EngineError as e:
                    log.warning("container %s: %s", c.name, e.message)
                self._watch(c)
            elif (self.exits / c.id).exists():
                self._finish(c)
            else:  # the machine rebooted: nothing ran it any more
                with c.lock:
                    self.runtime.delete(c.id)
                    self.networks.release(c)
                    self.unmount_rootfs(c)
                    c.state.update(Status="exited", Running=False, Pid=0, ExitCode=255, FinishedAt=now_rfc3339())
                    c.save()
                policy = (c.data["HostConfig"].get("RestartPolicy") or {}).get("Name")
                if policy in ("always", "unless-stopped") and not c.data.get("ManualStop"):
                    threading.Thread(target=self._restart_after_exit, args=(c,), daemon=True).start()


def _merge_env(base: list[str], extra: list[str]) -> list[str]:
    merged: dict[str, str] = {}
    for item in base + extra:
        key = item.split("=", 1)[0]
        merged[key] = item
    return list(merged.values())


def _container_path(path: str) -> str:
    if not path.startswith("/"):
        raise InvalidInput(f"invalid mount path: {path!r} mount path must be absolute")
    return os.path.normpath(path)


def _host_resolv_conf() -> str:
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return "nameserver 8.8.8.8\n"
    kept = [
        line
        for line in lines
        if not (line.startswith("nameserver") and (line.split()[1:2] or [""])[0].startswith("127."))
    ]
    if not any(line.startswith("nameserver") for line in kept):
        kept += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(kept) + "\n"


_ADJECTIVES = [
    "brave",
    "calm",
    "eager",
    "fancy",
    "gentle",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "merry",
    "nifty",
    "quirky",
    "sharp",
    "tender",
    "vivid",
    "witty",
    "zen",
    "bold",
    "cool",
    "dreamy",
]
_NAMES = [
    "turing",
    "hopper",
    "lovelace",
    "knuth",
    "ritchie",
    "thompson",
    "torvalds",
    "liskov",
    "hamilton",
    "dijkstra",
    "shannon",
    "noether",
    "curie",
    "babbage",
    "wozniak",
    "kay",
    "lamport",
    "perlman",
]


def _generated_name(taken: set[str]) -> str:
    while True:
        a, b = os.urandom(2)
        name = f"{_ADJECTIVES[a % len(_ADJECTIVES)]}_{_NAMES[b % len(_NAMES)]}"
        if name not in taken:
            return name
