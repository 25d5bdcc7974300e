"""Fixtures that run the real agent on this host (tests/support/agent.py): a temp socket and state root,
real runtime, real clients; teardown removes every trace whether or not the test passed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from machine.busybox import image_tar
from tests.support.agent import IMAGE, Agent, serving
from tests.support.registry import Registry


@pytest.fixture(scope="session")
def image_tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox test image as a `docker save` tar."""
    path = tmp_path_factory.mktemp("image") / "busybox.tar"
    image_tar(path, IMAGE)
    return path


@pytest.fixture(scope="session")
def agent(tmp_path_factory: pytest.TempPathFactory, image_tarball: Path) -> Iterator[Agent]:
    """One agent for the session, with the busybox test image loaded."""
    a = Agent(tmp_path_factory.mktemp("agent"))
    with serving(a, image_tarball):
        yield a


@pytest.fixture
def fresh_agent(tmp_path: Path, image_tarball: Path) -> Iterator[Agent]:
    """An agent of the test's own, for tests that kill or restart it."""
    a = Agent(tmp_path)
    with serving(a, image_tarball):
        yield a


@pytest.fixture(scope="session")
def crun_agent(tmp_path_factory: pytest.TempPathFactory, image_tarball: Path) -> Iterator[Agent]:
    """An agent on crun, the guests' runtime: it refuses this host's hybrid cgroups, so the agent runs in a mount
    namespace of its own without the cgroup2 hierarchy (crun then drives the v1 controllers)."""
    if not shutil.which("crun") or not Path("/sys/fs/cgroup/unified").is_mount():
        pytest.skip("needs crun on a hybrid cgroup host")
    hide_unified = 'umount /sys/fs/cgroup/unified && exec "$@"'
    prefix = ("unshare", "--mount", "--propagation", "private", "sh", "-c", hide_unified, "sh")
    a = Agent(tmp_path_factory.mktemp("crun-agent"), ("--runtime", "crun"), prefix)
    with serving(a, image_tarball):
        yield a


@pytest.fixture
def client(agent: Agent) -> Iterator[object]:
    """docker-py against the session agent."""
    import docker

    c = docker.DockerClient(base_url=f"unix://{agent.socket}", version="auto")
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if not shutil.which("docker-registry"):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    r = Registry(tmp_path_factory.mktemp("registry"))
    try:
        yield r
    finally:
        r.stop()
