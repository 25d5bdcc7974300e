"""The per-machine tunnel process: started on demand, found by its pid file, stopped by stop/rm.

Files in the machine's folder: `docker.sock` (the local docker endpoint, 0600; on Windows, where the
docker CLI cannot use unix sockets, `docker.port`: the port of a 127.0.0.1 listener), `tunnel.pid`,
`tunnel.log`, `tunnel.held` (while it holds its connection for a saved machine), and `ports.json` (the published
ports forwarded to this computer, and those that could not be opened here, with why). The process itself is
`machine.tunnelprocess`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .sharing import mounts
from .store import Machine

PORTS = "ports.json"
HELD = "tunnel.held"


class TunnelError(Exception):
    pass


def use_tcp() -> bool:
    return os.name == "nt" or os.environ.get("MACHINE_TUNNEL_TCP") == "1"


def socket_path(machine: Machine) -> Path:
    """The local endpoint: the unix socket, or (TCP mode) the file naming the port."""
    return machine.folder / ("docker.port" if use_tcp() else "docker.sock")


def docker_host(machine: Machine) -> str:
    """DOCKER_HOST for the machine's tunnel ("" in TCP mode until the tunnel has picked its port)."""
    if not use_tcp():
        return f"unix://{socket_path(machine)}"
    try:
        return f"tcp://127.0.0.1:{int(socket_path(machine).read_text())}"
    except (FileNotFoundError, ValueError):
        return ""


def running(machine: Machine) -> bool:
    """Whether the machine's tunnel process runs and serves (is not held)."""
    return _pid(machine) is not None and not (machine.folder / HELD).exists()


def held(machine: Machine) -> bool:
    """Whether the machine's tunnel holds its connection while the machine is saved (hold())."""
    return (machine.folder / HELD).exists() and _pid(machine) is not None


def hold(machine: Machine, timeout: float = 5) -> None:
    """Before the machine's state is saved: its tunnel, if one runs, keeps its SSH connection for the resume
    (ensure() releases it) and answers clients that the machine is stopped. Where it cannot, it is stopped."""
    pid = _pid(machine)
    if pid is not None and hasattr(signal, "SIGUSR1"):
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid(machine) is not None:
            if (machine.folder / HELD).exists():
                return
            time.sleep(0.02)
    stop(machine)


def _pid(machine: Machine) -> int | None:
    """The tunnel's pid if it is running (a stale pid file is ignored)."""
    try:
        pid = int((machine.folder / "tunnel.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _is_tunnel(pid) else None


def _is_tunnel(pid: int) -> bool:
    """Whether `pid` is a running tunnel process."""
    if os.path.isdir("/proc/self"):
        # Linux: also make sure the pid was not reused by another program; an exited process that its parent has not
        # reaped yet (a zombie: its parent still runs, or an init that reaps late) has no command line
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return b"machine.tunnel" in f.read()
        except OSError:
            return False
    if sys.platform == "win32":  # os.kill(pid, 0) would end the process there (TerminateProcess)
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _answers(path: Path, timeout: float = 15) -> tuple[bool, str]:
    """Whether the agent answers /_ping through the local endpoint (and the error text if not)."""
    try:
        tcp = path.suffix == ".port"
        with socket.socket(socket.AF_INET if tcp else socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(("127.0.0.1", int(path.read_text())) if tcp else str(path))
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: machine\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except (OSError, ValueError) as e:
        return False, str(e)
    if data.startswith(b"HTTP/1.1 200"):
        return True, ""
    body = data.partition(b"\r\n\r\n")[2]
    try:
        return False, json.loads(body)["message"]
    except (ValueError, KeyError, TypeError):
        return False, body.decode(errors="replace")[:200] or "no answer"


def ensure(machine: Machine, timeout: float = 30, *, resumed: bool = False, boot_wait: float = 0.0) -> str:
    """Start the machine's tunnel unless it runs (a held one is released: the machine was resumed); returns
    DOCKER_HOST once the agent answers through it. `resumed`: the machine was just resumed from a saved state, and
    a tunnel started now steps its clock first. `boot_wait`: the machine is booting; a tunnel started now waits up
    to that long for its SSH server (its connection is the boot's one login), and the agent, which may start after
    it, is asked again until `timeout` more seconds have passed."""
    if not machine.agent.get("version"):
        raise TunnelError(f"{machine.name} has no agent yet: run `machine provision {machine.name}`")
    path = socket_path(machine)
    pid = _pid(machine)
    if pid is not None and (machine.folder / HELD).exists():
        _release(machine, pid)
    elif pid is None:
        stop(machine)
        with open(machine.folder / "tunnel.log", "ab") as log:
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "machine.tunnelprocess",
                    "--storage-path",
                    str(machine.folder.parent.parent),
                    *(["--resumed"] if resumed else []),
                    *(["--boot-wait", str(boot_wait)] if boot_wait else []),
                    machine.name,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
    deadline = time.monotonic() + boot_wait + timeout
    error = "the tunnel did not start"
    while time.monotonic() < deadline:
        if path.exists():
            ok, error = _answers(path, timeout=max(1.0, deadline - time.monotonic()))
            if ok:
                return docker_host(machine)
            if not boot_wait:
                break
            time.sleep(0.2)
        time.sleep(0.05)
    raise TunnelError(
        f"cannot reach the agent of {machine.name} through the tunnel: {error.rstrip('. ')}. "
        f"See {machine.folder / 'tunnel.log'}; `machine provision {machine.name}` repairs the agent"
    )


def _release(machine: Machine, pid: int, timeout: float = 5) -> None:
    """End the hold of the machine's tunnel (hold()); it steps the clock on its connection before serving."""
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + timeout
    while (machine.folder / HELD).exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def stop(machine: Machine) -> None:
    """Stop the machine's tunnel (if any) and remove its socket."""
    pid = _pid(machine)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not _is_tunnel(pid):
                    break
                time.sleep(0.025)
            else:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for name in ("docker.sock", "docker.port", "tunnel.pid", PORTS, mounts.REPORT, HELD):
        (machine.folder / name).unlink(missing_ok=True)


def share_report(machine: Machine) -> tuple[set[str], dict[str, str]]:
    """The shares the tunnel has mounted in the machine (paths there), and those it could not mount: path -> why."""
    try:
        report = json.loads((machine.folder / mounts.REPORT).read_text())
        return set(report["mounted"]), {str(k): str(v) for k, v in report["failed"].items()}
    except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
        return set(), {}


def update_shares(machine: Machine, timeout: float = 60) -> tuple[set[str], dict[str, str]]:
    """Have the running tunnel (started if need be) mount and unmount as `machine.shares` now says; returns
    share_report() once it did (or at the timeout)."""
    (machine.folder / mounts.REPORT).unlink(missing_ok=True)
    pid = _pid(machine)
    if pid is not None and hasattr(signal, "SIGHUP"):
        os.kill(pid, signal.SIGHUP)
    else:
        ensure(machine)
    wanted = {share.guest for share in machine.shares}
    deadline = time.monotonic() + timeout
    while True:
        mounted, failed = share_report(machine)
        if (mounted | set(failed)) >= wanted and mounted <= wanted and (machine.folder / mounts.REPORT).exists():
            return mounted, failed
        if time.monotonic() > deadline or _pid(machine) is None:
            return mounted, failed
        time.sleep(0.1)


def port_report(machine: Machine) -> tuple[set[int], dict[int, str]]:
    """The published ports the tunnel forwards to this computer, and those it could not open: port -> why."""
    try:
        report = json.loads((machine.folder / PORTS).read_text())
        return set(report["forwarded"]), {int(port): why for port, why in report["unavailable"].items()}
    except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
        return set(), {}


def wait_for_ports(machine: Machine, ports: set[int], timeout: float = 10) -> dict[int, str]:
    """Wait until the tunnel has dealt with each of `ports` (it follows the agent's events); returns those it
    could not open on this computer, with why."""
    deadline = time.monotonic() + timeout
    while True:
        forwarded, unavailable = port_report(machine)
        if ports <= forwarded | set(unavailable) or time.monotonic() > deadline or _pid(machine) is None:
            return {port: why for port, why in unavailable.items() if port in ports}
        time.sleep(0.05)
