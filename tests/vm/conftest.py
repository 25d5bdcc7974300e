"""Fixtures for real VMs: libvirtd (started by hand when nothing runs it) and a store with the guest image.

The image is cached in /var/cache/machine-test between runs (CI builds it once per run); machines are
created in a per-test folder of that store and removed after the test, whether it passed or not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.libvirt import NETWORK
from machine.vm import guestimage
from machine.vm.images import ImageCache
from tests.support import cloud_image as cloud_image_builder
from tests.support import libvirtd as libvirtd_harness

STORE = Path("/var/cache/machine-test")
# Each VM test boots guests under qemu TCG and waits on them many times. Measured on a 2-core host with
# another test run loading it: the end-to-end test 207 s, the cloud-image test 249 s (the image builds,
# 160 s and 137 s, are setup and not counted). pytest's 300 s is for the rest; these get 1200 s.
VM_TEST_TIMEOUT = 1200


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("vm") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(VM_TEST_TIMEOUT))


@pytest.fixture(scope="session")
def libvirtd() -> Iterator[None]:
    """A running libvirtd for the session (see tests/support/libvirtd.py)."""
    try:
        with libvirtd_harness.running(NETWORK):
            yield
    except libvirtd_harness.Unavailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def guest_image(libvirtd: None) -> Path:
    """The store holding the built guest image (built here once if missing)."""
    env = dict(os.environ, MACHINE_STORAGE_PATH=str(STORE))
    if not guestimage.current(ImageCache(STORE / "cache")):
        subprocess.run([sys.executable, "-m", "machine", "image", "build"], env=env, check=True, timeout=1200)
    return STORE


@pytest.fixture(scope="session")
def cloud_image(libvirtd: None) -> Path:
    """A stand-in for Debian's official cloud image (see cloud_image.py), built here once if missing or stale."""
    return cloud_image_builder.ensure(STORE / "debian-cloud-standin.qcow2")
