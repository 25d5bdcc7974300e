"""The per-container monitor: conmon (2 MB RSS) keeps the logs and the exit code, outliving the agent.

conmon runs `<runtime> create` (we then `<runtime> start`), writes stdout/stderr to a k8s-file log
(`TIMESTAMP STREAM F|P text`), serves an attach socket in the bundle (SOCK_SEQPACKET; each packet
from conmon starts with a byte saying the stream: 2 stdout, 3 stderr; what we send goes to stdin),
takes window sizes on the bundle's `ctl` fifo, and writes the exit code to `<exit dir>/<id>`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from .runtime import OCIRuntimeError, Runtime

log = logging.getLogger("guest.containers")

STDOUT, STDERR = 2, 3


def mount_exit_dir(path: Path) -> None:
    """Give conmon's exit files a small tmpfs of their own at `path` (kept when there): on a full disk conmon
    could not write one, and an exit 3 became 137. A reboot, which ends the containers, clears them too.
    Exit files already there (written for an agent before this one) move in."""
    path.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(path):
        return
    kept = {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()}
    for name in kept:
        (path / name).unlink()  # not left under the mount, to come back stale once it is gone
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "machine-agent-exits", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        log.warning("exit codes stay on the disk (no tmpfs at %s: %s)", path, mounted.stderr.strip())
    for name, data in kept.items():
        (path / name).write_bytes(data)


def conmon_binary() -> str:
    path = shutil.which("conmon") or next(
        (p for p in ("/usr/bin/conmon", "/usr/libexec/podman/conmon") if os.path.exists(p)), None
    )
    if not path:
        raise OCIRuntimeError("conmon is not installed (apt-get install conmon)")
    return path


def launch(
    runtime: Runtime,
    cid: str,
    bundle: Path,
    log_path: Path | None,
    exit_dir: Path,
    tty: bool,
    stdin: bool,
    stdin_once: bool = False,
    log_size_max: int = 0,
) -> int:
    """Create the container under a new conmon, its output logged to `log_path` (None: not kept); returns the
    container's pid (not started yet).

    The container's stdin stays open when an attached client leaves, unless `stdin_once` without a TTY (Docker's
    rule: a TTY's input is never closed by a client going away). With `log_size_max`, conmon starts a new log file
    when the next line would make it larger (see logrotation)."""
    read_fd, write_fd = os.pipe()
    args = [
        conmon_binary(),
        "--api-version",
        "1",
        "-c",
        cid,
        "-u",
        cid,
        "-n",
        cid,
        "-r",
        runtime.binary,
        "--runtime-arg",
        f"--root={runtime.state}",
        "-b",
        str(bundle),
        "-p",
        str(bundle / "pidfile"),
        "-P",
        str(bundle / "conmon.pid"),
        "--exit-dir",
        str(exit_dir),
        "-l",
        f"k8s-file:{log_path}" if log_path else "none:",
        "--full-attach",
        "--socket-dir-path",
        str(bundle),
        "--log-level",
        "error",
    ]
    if log_path and log_size_max:
        args += ["--log-size-max", str(log_size_max)]
    if tty:
        args.append("-t")
    if stdin:
        args.append("-i")
        if tty or not stdin_once:
            args.append("--leave-stdin-open")
    try:
        proc = subprocess.Popen(
            args,
            cwd=bundle,  # conmon writes an `oom` file into its working directory on an OOM kill
            pass_fds=(write_fd,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={"_OCI_SYNCPIPE": str(write_fd), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
    finally:
        os.close(write_fd)
    try:
        _, err = proc.communicate(timeout=60)
        data = os.read(read_fd, 65536)  # one line, once `create` is done (conmon keeps its end open)
    finally:
        os.close(read_fd)
    try:
        answer = json.loads(data.splitlines()[0]) if data else {}
    except ValueError:
        answer = {}
    pid = answer.get("data", answer.get("pid", -1))
    if not isinstance(pid, int) or pid <= 0:
        message = answer.get("message") or err.decode(errors="replace").strip() or "conmon failed"
        raise OCIRuntimeError(_short(message))
    return pid


def _short(message: str) -> str:
    """The useful part of a runtime error (runc wraps it in a log line)."""
    for line in reversed(message.splitlines()):
        if "msg=" in line:
            return line.split("msg=", 1)[1].strip().strip('"')
    return message.strip()


def conmon_pid(bundle: Path) -> int | None:
    """The pid of the container's conmon while it runs (a pid reused by another process is not it)."""
    try:
        pid = int((bundle / "conmon.pid").read_text())
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"conmon" in args[0] and str(bundle).encode() in args else None


def stop_leftover(runtime: Runtime, cid: str, bundle: Path) -> None:
    """Stop what a start cut short left: its conmon is let finish `create` (or the runtime could create the
    container after this looked), the runtime's container is deleted (its processes die, and then its conmon
    ends), and a conmon that outlives that is killed."""
    deadline = time.monotonic() + 60
    while conmon_pid(bundle) and not (bundle / "pidfile").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    runtime.delete(cid)
    deadline = time.monotonic() + 10
    while conmon_pid(bundle) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = conmon_pid(bundle)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        runtime.delete(cid)


def attach(bundle: Path, timeout: float = 5.0) -> socket.socket:
    """A connection to the container's attach socket (the path may exceed the unix socket limit).

    conmon binds the socket before it listens: a connection in between is refused, so retry a while."""
    deadline = time.monotonic() + timeout
    fd = os.open(bundle, os.O_PATH)
    try:
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                sock.connect(f"/proc/self/fd/{fd}/attach")
                return sock
            except (ConnectionRefusedError, FileNotFoundError):
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
    finally:
        os.close(fd)


def resize(bundle: Path, height: int, width: int) -> None:
    try:
        fd = os.open(bundle / "ctl", os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, f"1 {height} {width}\n".encode())
    finally:
        os.close(fd)
