"""Fixtures for the host side: a real OpenSSH sshd on loopback, and the `machine` CLI in a private store.

The sshd runs as root with its own config, host key and authorized key in a temp folder, on a free
loopback port; it is stopped after the session. Every `machine` command runs as a real process with
MACHINE_STORAGE_PATH and DOCKER_CONFIG pointing into the test's temp folder, so nothing touches the
user's machines or docker contexts; teardown stops the tunnels the test started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)


class Sshd:
    """A real sshd on 127.0.0.1:port accepting `client_key` for root."""

    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.host_key = base / "host_ed25519"
        self.client_key = base / "client_ed25519"
        self.proc: subprocess.Popen[bytes] | None = None
        _keygen(self.host_key)
        _keygen(self.client_key)
        (base / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        (base / "sshd_config").write_text(f"""
Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key}
AuthorizedKeysFile {base}/authorized_keys .ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile {base}/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel ERROR
""")

    def start(self) -> None:
        Path("/run/sshd").mkdir(exist_ok=True)
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.base / "sshd_config")],
                                     stdout=subprocess.DEVNULL, stderr=open(self.base / "sshd.log", "ab"))
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4) == b"SSH-":
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {(self.base / 'sshd.log').read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def new_host_key(self) -> None:
        """Restart with another host key, as a re-installed host (or a man in the middle) would have."""
        self.stop()
        for path in (self.host_key, Path(f"{self.host_key}.pub")):
            path.unlink()
        _keygen(self.host_key)
        self.start()

    def generic_args(self) -> list[str]:
        return ["-d", "generic", "--generic-ip-address", "127.0.0.1", "--generic-ssh-port", str(self.port),
                "--generic-ssh-key", str(self.client_key)]


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not Path(SSHD).exists():
        pytest.skip("OpenSSH server is not installed (apt-get install openssh-server)")
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Cli:
    """Runs the real `machine` command in a private store."""

    store: Path
    env: dict[str, str]

    def __call__(self, *args: str, check: bool = True, input: str | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "machine", *args], env=self.env, capture_output=True,
                                text=True, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"machine {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result


def stop_tunnels(store: Path) -> None:
    """Kill every tunnel process of this store."""
    for pid_file in store.glob("machines/*/tunnel.pid"):
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    store = tmp_path / "store"
    env = dict(os.environ, MACHINE_STORAGE_PATH=str(store), DOCKER_CONFIG=str(tmp_path / "docker-config"))
    for name in ("MACHINE_NAME", "MACHINE_DRIVER", "DOCKER_HOST", "DOCKER_CONTEXT"):
        env.pop(name, None)
    try:
        yield Cli(store, env)
    finally:
        stop_tunnels(store)


@dataclass
class Provisioned:
    """A generic machine on the loopback sshd with the agent provisioned into test-only paths."""

    cli: Cli
    name: str
    base: Path

    @property
    def agent_root(self) -> Path:
        return self.base / "agent-root"

    def docker(self, *args: str, check: bool = True, input: str | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The stock docker CLI with the environment `machine env` prints."""
        env = dict(self.cli.env)
        for line in self.cli("env", self.name, "--shell", "bash", "--no-tunnel").stdout.splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export "):].partition("=")
                env[key] = value.strip('"')
        result = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, input=input,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result


def agent_args(base: Path) -> list[str]:
    """Create options that keep a provisioned agent away from the real paths: socket, state root and
    install folder all live in the test's temp folder (so several runs and a real agent never clash)."""
    return ["--agent-socket", str(base / "agent.sock"), "--agent-root", str(base / "agent-root"),
            "--agent-dir", str(base / "agent-lib")]


@pytest.fixture
def provisioned(cli: Cli, sshd: Sshd, tmp_path: Path) -> Iterator[Provisioned]:
    base = tmp_path / "guest"
    base.mkdir()
    try:
        cli("create", *sshd.generic_args(), *agent_args(base), "dev", timeout=300)
        cli("env", "dev")  # starts the tunnel
        yield Provisioned(cli, "dev", base)
    finally:
        stop_tunnels(cli.store)
        stop_agent(base)


def stop_agent(base: Path) -> None:
    """Stop a provisioned agent (its supervisor first), then remove its containers, mounts and state."""
    from tests.agent.conftest import cleanup_state

    lib = base / "agent-lib"
    (lib / "stop").parent.mkdir(parents=True, exist_ok=True)
    (lib / "stop").touch()
    for name in ("supervisor.pid", "agent.pid"):
        try:
            os.kill(int((lib / name).read_text()), signal.SIGKILL)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pass
    cleanup_state(base / "agent-root")
