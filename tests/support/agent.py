"""A real agent on this host for tests and benches: its own socket and state root, and a cleanup that
leaves nothing behind.

Isolation: every agent has its own state root, its own socket there, and its OCI runtime state under
`<root>/runtime`, so nothing clashes with another agent or a real engine. `cleanup_state` kills what
the agent started (runtime containers, monitors), unmounts everything under the root and deletes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from guest import paths

REPO = Path(__file__).resolve().parents[2]
IMAGE = "busybox:test"


def _ping(sock: Path, path: str = "/_ping", timeout: float = 1) -> bool:
    """Whether the agent on `sock` answers GET `path` with 200 within `timeout` seconds."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(str(sock))
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: agent\r\n\r\n".encode())
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Agent:
    """One agent process on `socket` with state in `root`; restartable like a real service."""

    def __init__(self, base: Path, options: tuple[str, ...] = (), prefix: tuple[str, ...] = ()):
        self.base = base
        self.options = options
        self.prefix = prefix  # a command the agent runs under (e.g. unshare into a mount namespace of its own)
        self.root = base / "root"
        self.socket = base / "agent.sock"
        self.log = base / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        env = dict(
            os.environ,
            DOCKER_HOST=f"unix://{self.socket}",
            DOCKER_BUILDKIT="0",
            DOCKER_CONFIG=str(self.base / "docker-config"),
        )  # `docker login` must not touch ~/.docker
        env.pop("DOCKER_CONTEXT", None)
        return env

    def start(self, started: bool = True) -> None:
        """Start the agent; return once it serves and (with `started`) its start-up work is done too: its
        containers recovered, which the routes other than /_ping, /version, /info and /events wait for."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    *self.prefix,
                    sys.executable,
                    "-m",
                    "guest",
                    "--socket",
                    str(self.socket),
                    "--root",
                    str(self.root),
                    "--log-level",
                    "debug",
                    *self.options,
                ],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while not _ping(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"agent did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        while started and not _ping(self.socket, "/containers/json?limit=1", timeout=5):
            if self.proc.poll() is not None or time.monotonic() > deadline + 100:
                raise RuntimeError(f"agent did not finish its start-up work:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:  # never leave an agent behind
                self.proc.kill()
                self.proc.wait(10)

    def docker(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the stock docker CLI against this agent."""
        result = subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, input=input, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def cleanup(self) -> None:
        self.kill(signal.SIGTERM)
        cleanup_state(self.root)


@contextlib.contextmanager
def serving(agent: Agent, image: Path | None = None) -> Iterator[Agent]:
    """`agent` started, with the image tar `image` loaded; cleaned up at the end whatever happened."""
    try:
        agent.start()
        if image is not None:
            agent.docker("load", "-i", str(image))
        yield agent
    finally:
        agent.cleanup()


def cleanup_state(root: Path) -> None:
    """Remove every trace of an agent's state root: runtime containers, monitors, mounts, files."""
    runtime_root = root / "runtime"
    for runtime in ("crun", "runc"):
        if not shutil.which(runtime) or not runtime_root.exists():
            continue
        listed = subprocess.run(
            [runtime, "--root", str(runtime_root), "list", "--format", "json"], capture_output=True, text=True
        )
        for c in json.loads(listed.stdout or "null") or []:
            subprocess.run([runtime, "--root", str(runtime_root), "delete", "--force", c["id"]], capture_output=True)
    for pid in _pids_mentioning(str(root)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    containers = root / "containers"
    for folder in containers.iterdir() if containers.is_dir() else []:
        subprocess.run(["ip", "netns", "del", f"machine-{folder.name[:12]}"], capture_output=True)
        for index in range(4):
            subprocess.run(["ip", "link", "del", f"v{index}{folder.name[:11]}"], capture_output=True)
    # the bridges of this agent's user networks and their firewall rules (the shared default bridge stays)
    bridges = []
    for record in (root / "networks").glob("*.json") if (root / "networks").is_dir() else []:
        try:
            bridge = json.loads(record.read_text()).get("Bridge", "")
        except (ValueError, AttributeError):
            continue  # a test's hostile record
        if isinstance(bridge, str) and bridge.startswith("mbr-"):
            subprocess.run(["ip", "link", "del", bridge], capture_output=True)
            bridges.append(bridge)
    _drop_rules(bridges)
    for mount in sorted(_mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)
    paths.discard(root)  # without recursion: a test's tree may be deeper than Python's recursion limit


def _drop_rules(bridges: list[str]) -> None:
    """Delete every iptables rule that names one of `bridges`."""
    for table in ("filter", "nat") if bridges else ():
        listed = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout
        for line in listed.splitlines():
            words = line.split()
            if words[:1] == ["-A"] and any(bridge in words for bridge in bridges):
                subprocess.run(["iptables", "-t", table, "-D", *words[1:]], capture_output=True)


def _pids_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].encode().decode("unicode_escape") for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]
