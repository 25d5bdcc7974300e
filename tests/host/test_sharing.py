"""Shared folders over the machine's SSH link (reverse sshfs) on the loopback sshd: the "machine" is this host,
the share mounted under another path. Real sshd, real sshfs, the real agent and docker CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from machine.busybox import image_tar
from machine.sharing.mounts import ShareMounts
from machine.sharing.shares import Share
from machine.transport import ssh
from machine.transport.tunnel import Link
from tests.support.cli import Provisioned
from tests.support.sshd import Sshd

pytestmark = pytest.mark.ssh
SETTLE = 60.0  # seconds for what the tunnel does in the background (sshfs starting on a loaded host included)


def sshfs_mounted(path: Path) -> bool:
    with open("/proc/mounts") as f:
        return any(line.split()[1:3] == [str(path), "fuse.sshfs"] for line in f)


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SETTLE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {SETTLE:.0f}s")
        time.sleep(0.1)


@pytest.fixture
def unmounts() -> Iterator[list[Path]]:
    """Paths the test mounts on: unmounted at the end, whatever happened."""
    paths: list[Path] = []
    try:
        yield paths
    finally:
        for path in paths:
            if sshfs_mounted(path):
                subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def link(sshd: Sshd) -> Iterator[Link]:
    target = ssh.Target("share-test", "127.0.0.1", sshd.port, "root", sshd.client_key)
    link = Link(lambda: ssh.connect(target, learn=lambda key: None), on_resume=lambda transport: None)
    try:
        yield link
    finally:
        link.close()


def test_shares_mount_serve_come_back_and_go(link: Link, sshd: Sshd, tmp_path: Path, unmounts: list[Path]) -> None:
    if not shutil.which("sshfs"):
        pytest.skip("sshfs is not installed (apt-get install sshfs)")
    local, guest, ro_local, ro_guest = (tmp_path / n for n in ("local", "guest", "ro-local", "ro-guest"))
    for folder in (local, ro_local):
        folder.mkdir()
    (local / "hello.txt").write_text("from the computer\n")
    (ro_local / "kept.txt").write_text("kept\n")
    unmounts += [guest, ro_guest]
    wanted = [Share(str(local), str(guest)), Share(str(ro_local), str(ro_guest), readonly=True, cached=True)]
    reports: list[dict[str, Any]] = []
    mounts = ShareMounts(link, lambda: list(wanted), sudo=False, report=reports.append)
    try:
        mounts.reconcile()
        assert reports[-1] == {"mounted": sorted([str(guest), str(ro_guest)]), "failed": {}}
        wait_for(lambda: (guest / "hello.txt").exists(), "the share shows its files")
        assert (guest / "hello.txt").read_text() == "from the computer\n"
        (guest / "made-in-guest.txt").write_text("from the machine\n")
        assert (local / "made-in-guest.txt").read_text() == "from the machine\n"
        assert (local / "made-in-guest.txt").stat().st_uid == os.getuid()  # owned by whoever runs machine
        (local / "later.txt").write_text("new\n")
        wait_for(lambda: (guest / "later.txt").exists(), "a file made on the computer shows in the machine")
        with pytest.raises(OSError):
            (ro_guest / "kept.txt").write_text("changed")
        assert (ro_local / "kept.txt").read_text() == "kept\n"

        for pid in sshd.session_pids():  # the SSH connection dies under the share
            os.kill(pid, 9)
        wait_for(lambda: not link.is_up(), "the link notices the drop")
        mounts.reconcile()
        assert str(guest) in reports[-1]["mounted"]
        wait_for(lambda: (guest / "hello.txt").exists(), "the share comes back after the link does")

        wanted.pop()
        mounts.reconcile()
        assert reports[-1]["mounted"] == [str(guest)]
        wait_for(lambda: not sshfs_mounted(ro_guest), "a share no longer wanted is unmounted")
    finally:
        mounts.close()
    wait_for(lambda: not sshfs_mounted(guest), "closing the tunnel's shares unmounts them")


@pytest.mark.containers
def test_machine_mount_shares_a_folder_with_containers(provisioned: Provisioned, tmp_path: Path) -> None:
    if not shutil.which("sshfs"):
        pytest.skip("sshfs is not installed (apt-get install sshfs)")
    cli = provisioned.cli
    local, guest = tmp_path / "project", tmp_path / "in-machine"
    local.mkdir()
    (local / "src.txt").write_text("source\n")
    try:
        assert "Shared" in cli("mount", "dev", f"{local}:{guest}").stderr
        record = json.loads(cli("inspect", "dev").stdout)
        assert record["shares"] == [{"local": str(local), "guest": str(guest), "readonly": False, "cached": False}]
        image_tar(tmp_path / "busybox.tar", "busybox:test")
        provisioned.docker("load", "-i", str(tmp_path / "busybox.tar"))
        run = ["run", "--rm", "-v", f"{guest}:/src", "busybox:test", "sh", "-c"]
        assert provisioned.docker(*run, "cat /src/src.txt; echo out > /src/out.txt").stdout == "source\n"
        assert (local / "out.txt").read_text() == "out\n" and (local / "out.txt").stat().st_uid == os.getuid()
        refused = cli("mount", "dev", f"{local}:/etc/x", check=False)
        assert refused.returncode != 0 and "system folders" in refused.stderr
        cli("mount", "-u", "dev", str(guest))
        assert json.loads(cli("inspect", "dev").stdout)["shares"] == []
        assert not sshfs_mounted(guest)
    finally:
        if sshfs_mounted(guest):
            subprocess.run(["umount", "-l", str(guest)], check=False)
