"""Container endpoints: create, list, inspect, start, wait, attach, logs, stop, kill, rm and friends."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

from .. import archive, containerlogs, monitor, tarsafe
from .. import stats as container_stats
from ..containers import ZERO_TIME, Container
from ..engine import Engine
from ..errors import Conflict, InvalidInput, NotFound
from ..execs import STDERR, STDOUT, frame
from . import filters as flt
from .http import Request, Response, Router, json_response, no_content

_MONITOR_STREAMS = {monitor.STDOUT: STDOUT, monitor.STDERR: STDERR}


def human_duration(seconds: float) -> str:
    """Docker's units.HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def _unix(rfc3339: str) -> float:
    return containerlogs.parse_time(rfc3339.replace("Z", "+00:00")) if rfc3339 != ZERO_TIME else 0.0


def status_text(c: Container) -> str:
    state = c.state
    if state["Status"] in ("running", "paused"):
        text = f"Up {human_duration(time.time() - _unix(state['StartedAt']))}"
        return text + " (Paused)" if state.get("Paused") else text
    if state["Status"] == "exited":
        if state["FinishedAt"] == ZERO_TIME:
            return "Created"
        return f"Exited ({state['ExitCode']}) {human_duration(time.time() - _unix(state['FinishedAt']))} ago"
    return str(state["Status"]).capitalize()


def _ports(c: Container) -> list[dict[str, Any]]:
    ports = c.data.get("NetworkSettings", {}).get("Ports") or {}
    rows = []
    for key, bindings in ports.items():
        port, _, proto = key.partition("/")
        for b in bindings or [{}]:
            row = {"PrivatePort": int(port), "Type": proto or "tcp"}
            if b.get("HostPort"):
                row.update(IP=b.get("HostIp") or "0.0.0.0", PublicPort=int(b["HostPort"]))
            rows.append(row)
    return rows


def summary(c: Container, size: bool = False) -> dict[str, Any]:
    config = c.data["Config"]
    args = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    networks = c.data.get("NetworkSettings", {}).get("Networks") or {}
    return {
        "Id": c.id,
        "Names": [c.data["Name"]],
        "Image": config.get("Image", ""),
        "ImageID": c.data["Image"],
        "Command": " ".join(args),
        "Created": int(_unix(c.data["Created"])),
        "Ports": _ports(c),
        "Labels": config.get("Labels") or {},
        "State": c.state["Status"],
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.data["HostConfig"].get("NetworkMode", "default")},
        "NetworkSettings": {"Networks": networks},
        "Mounts": [_mount_json(m) for m in c.data["Mounts"]],
        **({"SizeRw": 0, "SizeRootFs": 0} if size else {}),
    }


def _mount_json(m: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if k not in ("Anonymous", "Populated")}


def inspect(c: Container) -> dict[str, Any]:
    d = c.data
    network = d.get("NetworkSettings") or {}
    return {
        "Id": c.id,
        "Created": d["Created"],
        "Path": d["Path"],
        "Args": d["Args"],
        "State": {**c.state, "Status": c.state["Status"]},
        "Image": d["Image"],
        "ResolvConfPath": str(c.path / "resolv.conf"),
        "HostnamePath": str(c.path / "hostname"),
        "HostsPath": str(c.path / "hosts"),
        "LogPath": str(c.log_path),
        "Name": d["Name"],
        "RestartCount": d["RestartCount"],
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": d["HostConfig"],
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {"UpperDir": str(c.path / "upper"), "WorkDir": str(c.path / "work"), "MergedDir": str(c.rootfs)},
        },
        "Mounts": [_mount_json(m) for m in d["Mounts"]],
        "Config": d["Config"],
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": network.get("Ports") or {},
            "SandboxKey": network.get("SandboxKey", ""),
            "IPAddress": network.get("IPAddress", ""),
            "Gateway": network.get("Gateway", ""),
            "MacAddress": network.get("MacAddress", ""),
            "IPPrefixLen": network.get("IPPrefixLen", 0),
            "Networks": network.get("Networks") or {},
        },
    }


def _matches(c: Container, f: dict[str, list[str]]) -> bool:
    if "status" in f and c.state["Status"] not in f["status"]:
        return False
    if "name" in f and not any(n.lstrip("/") in c.name for n in f["name"]):
        return False
    if "id" in f and not any(c.id.startswith(i) for i in f["id"]):
        return False
    if "label" in f and not flt.label_matches(c.data["Config"].get("Labels") or {}, f["label"]):
        return False
    if "exited" in f and not (c.state["Status"] == "exited" and str(c.state["ExitCode"]) in f["exited"]):
        return False
    if "ancestor" in f:
        image = c.data["Config"].get("Image", "")
        if not any(
            a in (image, c.data["Image"]) or c.data["Image"][7:].startswith(a) or image.split(":")[0] == a
            for a in f["ancestor"]
        ):
            return False
    return True


def register(router: Router, engine: Engine) -> None:
    containers = engine.containers

    def get(req: Request) -> Container:
        return containers.get(req.params["id"])

    @router.route("GET", "/containers/json")
    def list_containers(req: Request) -> Response:
        f = flt.parse(req)
        everything = req.bool_arg("all") or "status" in f or "exited" in f
        rows = [c for c in containers.all() if (everything or c.running) and _matches(c, f)]
        rows.sort(key=lambda c: c.data["Created"], reverse=True)
        limit = req.int_arg("limit", -1) or -1
        if limit > 0:
            rows = rows[:limit]
        return json_response([summary(c, req.bool_arg("size")) for c in rows])

    @router.route("POST", "/containers/create")
    def create(req: Request) -> Response:
        body = req.json({})
        c = containers.create(body, req.arg("name") or None)
        return json_response({"Id": c.id, "Warnings": []}, 201)

    @router.route("POST", "/containers/prune")
    def prune(req: Request) -> Response:
        deleted = []
        for c in containers.all():
            if c.state["Status"] in ("exited", "created", "dead"):
                containers.remove(c, force=False, volumes=False)
                deleted.append(c.id)
        return json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": 0})

    @router.route("GET", "/containers/{id}/json")
    def inspect_container(req: Request) -> Response:
        return json_response(inspect(get(req)))

    @router.route("POST", "/containers/{id}/start")
    def start(req: Request) -> Response:
        c = get(req)
        if not containers.start(c):
            return Response(304, content_type="")
        return no_content()

    @router.route("POST", "/containers/{id}/stop")
    def stop(req: Request) -> Response:
        c = get(req)
        timeout = req.int_arg("t", req.int_arg("timeout"))
        if not containers.stop(c, timeout, req.arg("signal")):
            return Response(304, content_type="")
        return no_content()

    @router.route("POST", "/containers/{id}/restart")
    def restart(req: Request) -> Response:
        c = get(req)
        containers.stop(c, req.int_arg("t", req.int_arg("timeout")), req.arg("signal"))
        containers.start(c)
        containers.emit(c, "restart")
        return no_content()

    @router.route("POST", "/containers/{id}/kill")
    def kill(req: Request) -> Response:
        containers.kill(get(req), req.arg("signal") or "SIGKILL")
        return no_content()

    @router.route("POST", "/containers/{id}/pause")
    def pause(req: Request) -> Response:
        containers.pause(get(req), True)
        return no_content()

    @router.route("POST", "/containers/{id}/unpause")
    def unpause(req: Request) -> Response:
        containers.pause(get(req), False)
        return no_content()

    @router.route("POST", "/containers/{id}/rename")
    def rename(req: Request) -> Response:
        containers.rename(get(req), req.arg("name") or "")
        return no_content()

    @router.route("DELETE", "/containers/{id}")
    def remove(req: Request) -> Response:
        containers.remove(get(req), req.bool_arg("force"), req.bool_arg("v"))
        return no_content()

    @router.route("POST", "/containers/{id}/wait")
    def wait(req: Request) -> Response:
        c = get(req)
        condition = req.arg("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidInput(f"invalid condition: {condition!r}")
        start_count = c.exit_count

        def done() -> bool:
            if condition == "removed":
                return c.id not in {x.id for x in containers.all()}
            if condition == "next-exit":
                return c.exit_count > start_count
            return not c.running and not c.state.get("Restarting")

        def stream() -> Iterator[bytes]:
            while True:
                with containers.changed:
                    if not done():
                        containers.changed.wait(1.0)
                if done():
                    break
                yield b""
            error = c.state.get("Error") or None
            yield (
                json.dumps({"StatusCode": c.state["ExitCode"], "Error": {"Message": error} if error else None}).encode()
                + b"\n"
            )

        return Response(200, stream=stream())

    @router.route("POST", "/containers/{id}/resize")
    def resize(req: Request) -> Response:
        c = get(req)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        monitor.resize(c.bundle, req.int_arg("h", 24) or 24, req.int_arg("w", 80) or 80)
        return Response(200, b"", content_type="text/plain")

    @router.route("POST", "/containers/{id}/attach")
    def attach(req: Request) -> Response | None:
        c = get(req)
        if not req.bool_arg("stream") and not req.bool_arg("logs"):
            raise InvalidInput("attach needs stream=1 or logs=1")
        waited = not c.running
        if waited:
            c.attach_waiters += 1
        try:
            conn = req.hijack(
                "application/vnd.docker.raw-stream" if c.tty else "application/vnd.docker.multiplexed-stream"
            )
            if req.bool_arg("logs"):
                for record in containerlogs.read(c.log_path, req.bool_arg("stdout"), req.bool_arg("stderr")):
                    if record:
                        conn.write(
                            record[2] if c.tty else frame(STDOUT if record[1] == "stdout" else STDERR, record[2])
                        )
            if not req.bool_arg("stream") or not containers.wait_created(c):
                conn.close_write()
                return None
            sock = monitor.attach(c.bundle)
        finally:
            if waited:
                c.attach_waiters -= 1
                c.attached.release()
        _pump_attach(c, conn, sock, req.bool_arg("stdin"), req.bool_arg("stdout", True), req.bool_arg("stderr", True))
        return None

    @router.route("GET", "/containers/{id}/logs")
    def logs(req: Request) -> Response:
        c = get(req)
        stdout, stderr = req.bool_arg("stdout"), req.bool_arg("stderr")
        if not stdout and not stderr:
            raise InvalidInput("You must choose at least one stream")
        tail_arg = req.arg("tail") or "all"
        try:
            tail = -1 if tail_arg == "all" else int(tail_arg)
        except ValueError:
            raise InvalidInput(f"invalid tail value {tail_arg!r}") from None
        since, until = float(req.arg("since") or 0), float(req.arg("until") or 0)
        timestamps = req.bool_arg("timestamps")

        def stream() -> Iterator[bytes]:
            for record in containerlogs.read(
                c.log_path, stdout, stderr, since, until, tail, req.bool_arg("follow"), lambda: c.running
            ):
                if record is None:
                    yield b""
                    continue
                stamp, name, data = record
                if timestamps:
                    data = stamp.encode() + b" " + data
                yield data if c.tty else frame(STDOUT if name == "stdout" else STDERR, data)

        content_type = "application/vnd.docker.raw-stream" if c.tty else "application/vnd.docker.multiplexed-stream"
        return Response(200, content_type=content_type, stream=stream())

    @router.route("HEAD", "/containers/{id}/archive")
    @router.route("GET", "/containers/{id}/archive")
    def get_archive(req: Request) -> Response:
        c = get(req)
        path = req.arg("path") or ""
        if not path:
            raise InvalidInput("path is required: the file or folder in the container")
        with archive.host_path(containers, c, path) as target:
            if not target.exists() and not target.is_symlink():
                raise NotFound(f"Could not find the file {path} in container {c.name}")
            name = os.path.basename(path.rstrip("/")) or "/"
            headers = {"X-Docker-Container-Path-Stat": archive.stat_header(target, name)}
            if req.method == "HEAD":
                return Response(200, b"", content_type="application/x-tar", headers=headers)
            data = b"".join(tarsafe.tar_directory(target, name if name != "/" else "."))
        return Response(200, data, content_type="application/x-tar", headers=headers)

    @router.route("PUT", "/containers/{id}/archive")
    def put_archive(req: Request) -> Response:
        c = get(req)
        path = req.arg("path") or ""
        with archive.host_path(containers, c, path, follow_last=True) as target:
            if not target.is_dir():
                raise NotFound(
                    f"Could not find the file {path} in container {c.name}"
                    if not target.exists()
                    else f"{path} is not a directory in container {c.name}"
                )
            tarsafe.extract(req.stream(), target, owners=req.bool_arg("copyUIDGID"))
        return Response(200, b"", content_type="")

    @router.route("GET", "/containers/{id}/top")
    def top(req: Request) -> Response:
        c = get(req)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        return json_response(_top(engine, c, req.arg("ps_args") or "-ef"))

    @router.route("GET", "/containers/{id}/stats")
    def stats(req: Request) -> Response:
        c = get(req)
        if not req.bool_arg("stream", True) or req.bool_arg("one-shot"):
            return json_response(container_stats.sample(c, None))

        def stream() -> Iterator[bytes]:
            previous = None
            while True:
                current = container_stats.sample(c, previous)
                yield json.dumps(current).encode() + b"\n"
                previous = current
                if not c.running:
                    return
                time.sleep(1)

        return Response(200, stream=stream())


def _pump_attach(c: Container, conn: Any, sock: socket.socket, stdin: bool, stdout: bool, stderr: bool) -> None:
    """conmon's attach socket <-> the hijacked client connection."""

    def upstream() -> None:
        while True:
            data = conn.read()
            if not data:
                break
            try:
                sock.sendall(data)
            except OSError:
                return
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    if stdin and c.data["Config"].get("OpenStdin"):
        threading.Thread(target=upstream, daemon=True).start()
    try:
        while True:
            packet = sock.recv(65536)
            if not packet:
                break
            stream = _MONITOR_STREAMS.get(packet[0])
            if stream is None or (stream == STDOUT and not stdout) or (stream == STDERR and not stderr):
                continue
            conn.write(packet[1:] if c.tty else frame(stream, packet[1:]))
    except OSError:
        pass
    finally:
        sock.close()
        conn.close_write()


def _top(engine: Engine, c: Container, ps_args: str) -> dict[str, Any]:
    listed = engine.containers.runtime.run("ps", "--format", "json", c.id, check=False)
    try:
        pids = [str(p) for p in json.loads(listed.stdout or "[]")]
    except ValueError:
        pids = []
    if not pids:
        return {"Titles": ["PID", "CMD"], "Processes": []}
    out = subprocess.run(
        ["ps", "-o", "uid,pid,ppid,c,stime,tty,time,cmd", "-p", ",".join(pids)], capture_output=True, text=True
    )
    if out.returncode != 0:
        rows = [[p, " ".join(_cmdline(p))] for p in pids]
        return {"Titles": ["PID", "CMD"], "Processes": rows}
    lines = out.stdout.splitlines()
    titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    return {"Titles": titles, "Processes": [line.split(None, 7) for line in lines[1:]]}


def _cmdline(pid: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []
