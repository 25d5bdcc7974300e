"""Fixtures for the host side: a real OpenSSH sshd on loopback (stopped after the session), and the
`machine` CLI in a private store; teardown stops the tunnels and agents the test started."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cli import Cli, Provisioned, agent_args, stop_agent, stop_tunnels
from tests.support.sshd import SSHD, Sshd


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


@pytest.fixture
def own_sshd(tmp_path: Path) -> Iterator[Callable[..., Sshd]]:
    """Starts sshds of the test's own (which it may stop or configure; the session's one serves other tests):
    `own_sshd(sftp=False)`. All are stopped after the test."""
    servers: list[Sshd] = []

    def start(sftp: bool = True) -> Sshd:
        base = tmp_path / f"sshd-{len(servers)}"
        base.mkdir()
        servers.append(Sshd(base, sftp=sftp))
        servers[-1].start()
        return servers[-1]

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


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
