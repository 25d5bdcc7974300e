"""Fixtures for real VMs: libvirtd (started by hand when nothing runs it) and a store with the guest image.

The image is cached in /var/cache/machine-test between runs (CI builds it once per run); machines are
created in a per-test folder of that store and removed after the test, whether it passed or not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from drivers.libvirt import NETWORK

from . import cloud_image as cloud_image_builder

STORE = Path("/var/cache/machine-test")
QEMU_CONF = Path("/etc/libvirt/qemu.conf")


def _libvirt_answers() -> bool:
    return subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def libvirtd() -> Iterator[None]:
    """A running libvirtd: the system's, or one started here (no systemd) and stopped after the session;
    the machines' network is removed after the session unless it was there before."""
    if not shutil.which("libvirtd") or not shutil.which("qemu-system-x86_64"):
        pytest.skip("libvirt and qemu are not installed (tests/run installs them)")
    started: list[str] = []
    if not _libvirt_answers():
        if "\nsecurity_driver = \"none\"" not in QEMU_CONF.read_text():
            with QEMU_CONF.open("a") as f:  # no AppArmor/SELinux labelling and root qemu, as FINDINGS describes
                f.write('\nuser = "root"\ngroup = "root"\nsecurity_driver = "none"\n')
        for daemon in ("virtlogd", "libvirtd"):
            if subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode != 0:
                subprocess.run([daemon, "-d"], check=True)
                started.append(daemon)
        deadline = time.monotonic() + 20
        while not _libvirt_answers():
            if time.monotonic() > deadline:
                pytest.fail("libvirtd did not come up")
            time.sleep(0.2)
    virsh = ["virsh", "-c", "qemu:///system"]
    had_network = subprocess.run([*virsh, "net-info", NETWORK], capture_output=True).returncode == 0
    try:
        yield
    finally:
        if not had_network:  # the machines' NAT network (bridge, dnsmasq, firewall rules) goes too
            subprocess.run([*virsh, "net-destroy", NETWORK], capture_output=True)
            subprocess.run([*virsh, "net-undefine", NETWORK], capture_output=True)
        for daemon in reversed(started):
            subprocess.run(["pkill", "-x", daemon], capture_output=True)
            deadline = time.monotonic() + 30  # gone before the next session looks for it
            while subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode == 0 \
                    and time.monotonic() < deadline:
                time.sleep(0.2)


@pytest.fixture(scope="session")
def guest_image(libvirtd: None) -> Path:
    """The store holding the built guest image (built here once if missing)."""
    env = dict(os.environ, MACHINE_STORAGE_PATH=str(STORE))
    if not (STORE / "cache/images/debian-12/manifest.json").exists():
        subprocess.run([sys.executable, "-m", "machine", "image", "build"], env=env, check=True, timeout=1200)
    return STORE


@pytest.fixture(scope="session")
def cloud_image(libvirtd: None) -> Path:
    """A stand-in for Debian's official cloud image (see cloud_image.py), built here once if missing."""
    path = STORE / "debian-cloud-standin.qcow2"
    if not path.exists():
        cloud_image_builder.build(path)
    return path
