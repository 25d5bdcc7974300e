"""A running libvirtd: the system's, or one started by hand (no systemd here) and stopped afterwards;
the machines' libvirt network is removed afterwards unless it was there before."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

QEMU_CONF = Path("/etc/libvirt/qemu.conf")
VIRSH = ["virsh", "-c", "qemu:///system"]


class Unavailable(Exception):
    """libvirt or qemu is not installed."""


def answers() -> bool:
    return subprocess.run([*VIRSH, "version"], capture_output=True).returncode == 0


def start_libvirtd() -> None:
    """libvirtd in the background, under reaper.py: its VMs' qemu processes are reaped as soon as they end (see
    there), as a computer's own init does."""
    subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("reaper.py")), "libvirtd"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@contextlib.contextmanager
def running(network: str) -> Iterator[None]:
    """libvirtd for the duration; `network` (the machines' NAT network) goes afterwards if it is new."""
    if not shutil.which("libvirtd") or not shutil.which("qemu-system-x86_64"):
        raise Unavailable("libvirt and qemu are not installed (tests/run installs them)")
    started: list[str] = []
    if not answers():
        if '\nsecurity_driver = "none"' not in QEMU_CONF.read_text():
            with QEMU_CONF.open("a") as f:  # no AppArmor/SELinux labelling and root qemu, as FINDINGS describes
                f.write('\nuser = "root"\ngroup = "root"\nsecurity_driver = "none"\n')
        if subprocess.run(["pgrep", "-x", "virtlogd"], capture_output=True).returncode != 0:
            subprocess.run(["virtlogd", "-d"], check=True)
            started.append("virtlogd")
        if subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True).returncode != 0:
            start_libvirtd()
            started.append("libvirtd")
        deadline = time.monotonic() + 20
        while not answers():
            if time.monotonic() > deadline:
                raise RuntimeError("libvirtd did not come up")
            time.sleep(0.2)
    had_network = subprocess.run([*VIRSH, "net-info", network], capture_output=True).returncode == 0
    try:
        yield
    finally:
        if not had_network:  # the machines' NAT network (bridge, dnsmasq, firewall rules) goes too
            subprocess.run([*VIRSH, "net-destroy", network], capture_output=True)
            subprocess.run([*VIRSH, "net-undefine", network], capture_output=True)
        for daemon in reversed(started):
            subprocess.run(["pkill", "-x", daemon], capture_output=True)
            deadline = time.monotonic() + 30  # gone before the next session looks for it
            while (
                subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode == 0
                and time.monotonic() < deadline
            ):
                time.sleep(0.2)
