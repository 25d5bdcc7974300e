"""Fixtures for cloud drivers: moto's EC2 API server for the session, and per test the `machine` CLI in a
private store with an environment that reaches only that server (dummy credentials, none of the user's
AWS configuration). Machines a test leaves are removed after it, whether it passed or not."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import moto_ec2
from tests.support.cli import Cli, stop_tunnels

STORE = Path("/var/cache/machine-test")
# The guest test boots the cloud image under qemu TCG with cloud-init, provisions it and runs containers.
# Measured on a 2-core host with other sessions loading it: 280 s (create 193 s) at load average 2.8, 403 s
# (create 299 s) at 4-5; a bare boot of the image to SSH took 188 s at 3.5. These get 1200 s, not pytest's 300.
VM_TEST_TIMEOUT = 1200


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("vm") and "tests/cloud/" in str(item.fspath):
            item.add_marker(pytest.mark.timeout(VM_TEST_TIMEOUT))


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("boto3", reason="the aws extra is not installed (pip install -e '.[aws,test]')")
    pytest.importorskip("moto", reason="moto is not installed (pip install -e '.[aws,test]')")
    with moto_ec2.server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@dataclass
class Cloud:
    """The `machine` CLI against moto, and a client to look at what it made."""

    cli: Cli
    endpoint: str
    ec2: Any
    base: Path

    @property
    def driver_args(self) -> list[str]:
        return ["-d", "amazonec2", "--amazonec2-endpoint", self.endpoint]

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """`machine ARGS...` started in the background (the test plays the instance meanwhile)."""
        return subprocess.Popen(
            [sys.executable, "-m", "machine", *args],
            env=self.cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def instance(self, name: str) -> dict[str, Any] | None:
        """The machine's instance that is not terminated, None if there is none."""
        reservations = self.ec2.describe_instances(
            Filters=[
                {"Name": "tag:machine-name", "Values": [name]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ]
        )["Reservations"]
        found = [i for r in reservations for i in r["Instances"]]
        assert len(found) <= 1, found
        return found[0] if found else None

    def leftovers(self, name: str) -> list[str]:
        """Anything of machine NAME still in the account: its instance, group and key pair."""
        left = []
        if self.instance(name):
            left.append("instance")
        groups = self.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"machine-{name}"]}])
        left += [g["GroupId"] for g in groups["SecurityGroups"]]
        pairs = self.ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"machine-{name}"]}])
        left += [p["KeyName"] for p in pairs["KeyPairs"]]
        return left


@pytest.fixture
def cloud(moto_endpoint: str, tmp_path: Path) -> Iterator[Cloud]:
    store = tmp_path / "store"
    env = moto_ec2.environment(
        tmp_path, moto_endpoint, MACHINE_STORAGE_PATH=str(store), DOCKER_CONFIG=str(tmp_path / "docker-config")
    )
    for name in ("MACHINE_NAME", "MACHINE_DRIVER", "DOCKER_HOST", "DOCKER_CONTEXT"):
        env.pop(name, None)
    cli = Cli(store, env)
    try:
        yield Cloud(cli, moto_endpoint, moto_ec2.client(moto_endpoint), tmp_path)
    finally:
        stop_tunnels(store)
        for folder in sorted((store / "machines").glob("*")):
            cli("rm", "-f", "-y", folder.name, check=False, timeout=300)


@pytest.fixture(scope="session")
def cloud_image() -> Path:
    """The stand-in for Debian's official cloud image (tests/support/cloud_image.py), built once if missing or
    stale."""
    from tests.support import cloud_image as builder

    return builder.ensure(STORE / "debian-cloud-standin.qcow2")
