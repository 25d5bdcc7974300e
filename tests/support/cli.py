"""The real `machine` command in a private store, and an agent it provisioned onto the loopback sshd.

Every command runs as a real process with MACHINE_STORAGE_PATH and DOCKER_CONFIG pointing into a
folder of the caller's, so nothing touches the user's machines or docker contexts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.agent import cleanup_state


@dataclass
class Cli:
    """Runs the real `machine` command in a private store."""

    store: Path
    env: dict[str, str]

    def __call__(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "machine", *args],
            env=self.env,
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"machine {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result


def stop_tunnels(store: Path) -> None:
    """Kill every tunnel process of this store."""
    for pid_file in store.glob("machines/*/tunnel.pid"):
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


@dataclass
class Provisioned:
    """A generic machine on the loopback sshd with the agent provisioned into test-only paths."""

    cli: Cli
    name: str
    base: Path

    @property
    def agent_root(self) -> Path:
        return self.base / "agent-root"

    def docker(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """The stock docker CLI with the environment `machine env` prints."""
        env = dict(self.cli.env)
        for line in self.cli("env", self.name, "--shell", "bash", "--no-tunnel").stdout.splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export ") :].partition("=")
                env[key] = value.strip('"')
        result = subprocess.run(
            ["docker", *args], env=env, capture_output=True, text=True, input=input, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result


def agent_args(base: Path) -> list[str]:
    """Create options that keep a provisioned agent away from the real paths: socket, state root and
    install folder all live in the test's temp folder (so several runs and a real agent never clash)."""
    return [
        "--agent-socket",
        str(base / "agent.sock"),
        "--agent-root",
        str(base / "agent-root"),
        "--agent-dir",
        str(base / "agent-lib"),
    ]


def stop_agent(base: Path) -> None:
    """Stop a provisioned agent (its supervisor first), then remove its containers, mounts and state."""
    lib = base / "agent-lib"
    (lib / "stop").parent.mkdir(parents=True, exist_ok=True)
    (lib / "stop").touch()
    for name in ("supervisor.pid", "agent.pid"):
        try:
            os.kill(int((lib / name).read_text()), signal.SIGKILL)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pass
    cleanup_state(base / "agent-root")
