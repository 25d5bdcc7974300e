"""Exec sessions: `<runtime> exec` of a process spec derived from the container's own (same confinement)."""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import termios
import threading
import time
from pathlib import Path
from tty import setraw
from typing import Any

from .. import paths, relay
from ..errors import Conflict, InvalidInput, NotFound
from . import caps, detachkeys, starterrors, users
from .record import Container
from .stdio import STDERR, STDOUT, Stdio, frame
from .supervision import Containers


class Exec:
    """One exec instance: its config and, while it runs, its process."""

    def __init__(self, exec_id: str, container: Container, config: dict[str, Any]):
        self.id = exec_id
        self.container = container
        self.config = config
        self.running = False
        self.exit_code: int | None = None
        self.pid = 0
        self.master: int | None = None
        self.keys = detachkeys.parse(config.get("DetachKeys") or "", "escape keys")

    def inspect(self) -> dict[str, Any]:
        cmd = self.config.get("Cmd") or []
        return {
            "ID": self.id,
            "ContainerID": self.container.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "Pid": self.pid,
            "OpenStdin": bool(self.config.get("AttachStdin")),
            "OpenStdout": bool(self.config.get("AttachStdout")),
            "OpenStderr": bool(self.config.get("AttachStderr")),
            "CanRemove": False,
            "DetachKeys": self.config.get("DetachKeys") or "",
            "ProcessConfig": {
                "tty": bool(self.config.get("Tty")),
                "entrypoint": cmd[0] if cmd else "",
                "arguments": cmd[1:],
                "privileged": bool(self.config.get("Privileged")),
                "user": self.config.get("User") or "",
            },
        }


class Execs:
    """The exec instances of the containers, by ID."""

    def __init__(self, containers: Containers):
        self.containers = containers
        self._by_id: dict[str, Exec] = {}
        for leftover in containers.runtime.state.glob("exec-*"):  # of sessions a stopped agent left
            paths.discard(leftover)

    def create(self, c: Container, config: dict[str, Any]) -> Exec:
        if c.restarting:
            raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if c.state.get("Paused"):
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        if not config.get("Cmd"):
            raise InvalidInput("no exec command specified")
        ex = Exec(os.urandom(32).hex(), c, config)
        self._by_id[ex.id] = ex
        self.containers.emit(c, f"exec_create: {' '.join(config['Cmd'])}", {"execID": ex.id})
        return ex

    def get(self, exec_id: str) -> Exec:
        ex = self._by_id.get(exec_id)
        if ex is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return ex

    def _process(self, ex: Exec) -> dict[str, Any]:
        c = ex.container
        spec = json.loads((c.bundle / "config.json").read_text())
        process: dict[str, Any] = spec["process"]
        user = ex.config.get("User") or c.data["Config"].get("User") or ""
        uid, gid, extra = users.resolve(c.rootfs, user, c.data["HostConfig"].get("GroupAdd"))
        env = list(process.get("env") or [])
        for item in ex.config.get("Env") or []:
            key = item.split("=", 1)[0]
            env = [e for e in env if e.split("=", 1)[0] != key] + [item]
        process.update(
            args=ex.config["Cmd"],
            env=env,
            terminal=bool(ex.config.get("Tty")),
            cwd=ex.config.get("WorkingDir") or process.get("cwd") or "/",
            user={"uid": uid, "gid": gid, "additionalGids": extra},
        )
        if ex.config.get("Privileged"):  # every capability, as Docker gives; the container's seccomp stays
            process["capabilities"] = {k: caps.held() for k in ("bounding", "effective", "permitted")}
        process.pop("consoleSize", None)
        return process

    def check_startable(self, ex: Exec) -> None:
        """Conflict unless the exec can start now: not run yet, its container still there and running."""
        if ex.running or ex.exit_code is not None:
            raise Conflict(
                f"Error: Exec command {ex.id} is already running"
                if ex.running
                else f"Error: Exec command {ex.id} has already run"
            )
        c = ex.container
        if not self.containers.exists(c) or not c.running or c.state.get("Paused"):
            raise Conflict(f"Container {c.id} is not running")

    def start(self, ex: Exec, conn: Stdio | None, raw: bool) -> None:
        """Run the exec (under a pty if it was created with Tty); with `conn`, wire its stdio to the client until
        the process ends, its output `raw` or in multiplexed frames as the start request asked (dockerd's way).
        Detached, it returns once the process runs; a process that cannot start (an unknown user, a command the
        runtime cannot run) ends the exec with dockerd's exit code and raises why."""
        self.check_startable(ex)
        work = tempfile.mkdtemp(prefix="exec-", dir=str(self.containers.runtime.state))
        try:
            process = self._process(ex)
        except ValueError as e:  # its user or group is not in the container's files
            self._end(ex, work, 126)
            raise InvalidInput(str(e)) from None
        command, log_file, pid_file = self._command(ex.container, process, work)
        attach_in = bool(ex.config.get("AttachStdin")) and conn is not None
        tty = bool(ex.config.get("Tty"))
        if tty:
            # runc relays between the container's console and its own stdio (a pty of ours), and follows
            # that pty's window size: resizing our end resizes the container's console. Ours is raw from the
            # start: runc makes it raw only once it runs, and output before that came out translated twice
            # ("\r\r\n").
            master, slave = os.openpty()
            setraw(slave)
            proc = subprocess.Popen(
                command,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
            )
            os.close(slave)
            ex.master = master
        else:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE if attach_in else subprocess.DEVNULL,
                stdout=subprocess.PIPE if conn is not None else subprocess.DEVNULL,
                stderr=subprocess.PIPE if conn is not None else subprocess.DEVNULL,
            )
        ex.running = True
        ex.pid = proc.pid
        if conn is None:
            while proc.poll() is None and not os.path.exists(pid_file):
                time.sleep(0.01)
            if os.path.exists(pid_file):
                threading.Thread(target=self._reap, args=(ex, proc, work), daemon=True).start()
                return
            failure = _start_failure(log_file)
            self._reap(ex, proc, work)  # it ended without running
            if failure is not None:
                raise starterrors.error(failure)
            return
        self._pump(ex, proc, conn, raw, attach_in)
        self._reap(ex, proc, work)

    def run(self, c: Container, command: list[str], timeout: float) -> tuple[int | None, str]:
        """Run `command` in `c` as an unlisted exec (a health probe): (exit code, its output); (None, "") when it
        outran `timeout` (it is killed)."""
        work = tempfile.mkdtemp(prefix="probe-", dir=str(self.containers.runtime.state))
        try:
            args, log_file, pid_file = self._command(c, self._process(Exec("", c, {"Cmd": command})), work)
            try:
                done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_from(pid_file)
                return None, ""
            failure = _start_failure(log_file)
            if failure is not None:
                return starterrors.exit_code(failure) or 126, failure
            return done.returncode, (done.stdout + done.stderr).decode(errors="replace")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _command(self, c: Container, process: dict[str, Any], work: str) -> tuple[list[str], str, str]:
        """The runtime's `exec` of `process` in `c`, its files in `work`: (command, the runtime's own error log,
        the pid file it writes once the process runs)."""
        process_file, log_file, pid_file = (os.path.join(work, n) for n in ("process.json", "runtime.log", "pid"))
        with open(process_file, "w") as f:
            json.dump(process, f)
        command = self.containers.runtime.args(
            f"--log={log_file}", "--log-format=json", "exec", "--process", process_file, "--pid-file", pid_file, c.id
        )
        return command, log_file, pid_file

    def _pump(self, ex: Exec, proc: subprocess.Popen[bytes], conn: Stdio, raw: bool, attach_in: bool) -> None:
        """The client's input to the process, the process's output to the client, until the output ends."""

        def to_process(data: bytes) -> None:
            if ex.master is not None:
                os.write(ex.master, data)
            elif proc.stdin is not None:
                proc.stdin.write(data)
                proc.stdin.flush()

        def close_input() -> None:
            if proc.stdin is not None:
                proc.stdin.close()

        master = ex.master
        if master is None:
            if attach_in:
                relay.pump_in_background(conn.read, to_process, close_input)
            relay.pump(_output(proc, raw), conn.write)
            return
        watch = detachkeys.Watch(ex.keys)  # a pty: the detach keys end the session, the process runs on

        def to_client(data: bytes) -> None:  # one stream, stdout; still read after a detach so the process never blocks
            if not watch.detached:
                conn.write(data if raw else frame(STDOUT, data))

        def input_ended() -> None:
            if watch.detached:
                conn.close_write()

        if attach_in:
            relay.pump_in_background(watch.reader(conn.read), to_process, input_ended)
        relay.pump(lambda: os.read(master, 65536), to_client)

    def _reap(self, ex: Exec, proc: subprocess.Popen[bytes], work: str) -> None:
        code = proc.wait()
        failure = _start_failure(os.path.join(work, "runtime.log"))
        if ex.master is not None:
            os.close(ex.master)
            ex.master = None
        self._end(ex, work, (starterrors.exit_code(failure) or 126) if failure is not None else code)

    def _end(self, ex: Exec, work: str, code: int) -> None:
        paths.discard(Path(work))
        ex.exit_code = code
        ex.running = False
        self.containers.emit(ex.container, "exec_die", {"execID": ex.id, "exitCode": str(code)})

    def resize(self, ex: Exec, height: int, width: int) -> None:
        if ex.master is not None:
            fcntl.ioctl(ex.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _kill_from(pid_file: str) -> None:
    """SIGKILL the process whose pid the runtime wrote (a probe that outran its timeout)."""
    try:
        with open(pid_file) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


def _start_failure(log_file: str) -> str | None:
    """Why the runtime could not start the exec's process (its error log), or None if it ran."""
    try:
        with open(log_file) as f:
            lines = f.readlines()
    except OSError:
        return None
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            return str(entry.get("msg", ""))
    return None


def _output(proc: subprocess.Popen[bytes], raw: bool) -> relay.Read:
    """Reads of the process's stdout and stderr as they come, each in a multiplexed frame unless `raw`; b"" once
    both are closed."""
    streams = {r.fileno(): stream for r, stream in ((proc.stdout, STDOUT), (proc.stderr, STDERR)) if r is not None}
    poller = select.poll()  # not select(): descriptors past 1024 are common with many clients
    for fd in streams:
        poller.register(fd, select.POLLIN)
    pending: list[bytes] = []

    def read() -> bytes:
        while not pending and streams:
            for fd, _ in poller.poll():
                data = os.read(fd, 65536)
                if data:
                    pending.append(data if raw else frame(streams[fd], data))
                else:
                    poller.unregister(fd)
                    del streams[fd]
        return pending.pop(0) if pending else b""

    return read
