"""A machine's shares, mounted inside it by its tunnel process (reverse sshfs, as Lima did before 1.0).

Per share, an exec channel of the tunnel's SSH connection runs `sshfs -o slave :/ GUEST` in the machine; the
channel's stdin and stdout carry SFTP to this computer's server for that one folder (sftpserver.py). No port is
opened on either side. A share whose channel ended (the link dropped, the machine rebooted, sshfs was killed) is
mounted again once the link is back; the tunnel wakes this on SIGHUP after `machine mount` changed the shares.
What is mounted, and why a share is not, goes to `shares.json` in the machine's folder for the CLI.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko

from ..transport.tunnel import Link, Unavailable
from . import sftpserver
from .shares import Share

log = logging.getLogger("machine.tunnel")

REPORT = "shares.json"
RETRY = 5.0  # seconds between checks that every share is mounted
START_TIMEOUT = 30.0  # seconds for sshfs to start in the machine (python-free, but TCG guests are slow)
SSHFS_OPTIONS = "slave,allow_other,noatime"
# How long the machine trusts what it saw of a share (names, listings, sizes and times) before it asks again.
# 1 s: a file made or changed on this computer shows in the machine within a second (polling watchers see it);
# `cached` shares trust it for 20 s (sshfs's default): find + stat over 10,000 files in a container took 8.1 s
# instead of 45.7 s under TCG (bench/sharing.py; the guest's disk: 1.1 s), but changes made on this computer
# show up to 20 s late, and a file grown on this computer may read short until then.
# A stat the caches miss is one SFTP round trip: 4 ms under TCG, of which 0.4 ms on this computer (the rest is the
# guest's FUSE, sshfs and sshd); sshfs over a pipe to an sftp-server in the guest itself, with no network at all,
# took 2 ms, 11x the guest's disk.
FRESH = "dcache_timeout=1,attr_timeout=1,entry_timeout=1"
CACHED = "dcache_timeout=20,attr_timeout=20,entry_timeout=20"

Report = Callable[[dict[str, Any]], None]


def _is_sshfs(guest: str) -> str:
    """Shell test: an sshfs mount is at `guest` (a dead one too: /proc/mounts still lists it)."""
    return f"awk -v p={shlex.quote(guest)} '$2==p && $3==\"fuse.sshfs\"{{f=1}} END{{exit !f}}' /proc/mounts"


def mount_command(share: Share, sudo: bool) -> str:
    """The command the channel runs: a dead mount left at GUEST unmounted, then sshfs serving it until EOF."""
    guest = shlex.quote(share.guest)
    options = ",".join([SSHFS_OPTIONS, CACHED if share.cached else FRESH, *(["ro"] if share.readonly else [])])
    script = (
        f"if ! command -v sshfs >/dev/null; then echo 'sshfs is not installed in the machine' >&2; exit 127; fi; "
        f"if {_is_sshfs(share.guest)}; then umount -l {guest}; fi; "
        f"mkdir -p {guest} && exec sshfs -f -o {options} :/ {guest}"
    )
    return f"sudo -n sh -c {shlex.quote(script)}" if sudo else f"sh -c {shlex.quote(script)}"


def unmount_command(guest: str, sudo: bool) -> str:
    script = f"if {_is_sshfs(guest)}; then umount -l {shlex.quote(guest)}; fi"
    return f"sudo -n sh -c {shlex.quote(script)}" if sudo else f"sh -c {shlex.quote(script)}"


class _Session:
    """One share's channel and the SFTP server on it."""

    def __init__(self, share: Share, channel: paramiko.Channel):
        self.share = share
        self.channel = channel
        self.served = sftpserver.Served(channel, Path(share.local), share.readonly)

    def wait_started(self, timeout: float) -> bool:
        """Whether sshfs began its session within `timeout` (it mounts then), rather than ending first."""
        deadline = time.monotonic() + timeout
        while not self.served.started.wait(0.1):
            if not self.alive() or time.monotonic() > deadline:
                return False
        return True

    def alive(self) -> bool:
        return self.served.thread.is_alive() and not self.channel.exit_status_ready()

    def failure(self) -> str:
        """Why it ended, in sshfs's words when it said any."""
        said = b""
        while self.channel.recv_stderr_ready():
            said += self.channel.recv_stderr(4096)
        return said.decode(errors="replace").strip().splitlines()[-1:][0] if said.strip() else "sshfs ended"

    def close(self) -> None:
        self.channel.close()  # sshfs reads EOF and unmounts


class ShareMounts:
    """Keeps the machine's shares (as `shares()` lists them now) mounted over `link`."""

    def __init__(self, link: Link, shares: Callable[[], list[Share]], sudo: bool, report: Report):
        self.link = link
        self.shares = shares
        self.sudo = sudo
        self.report = report
        self.wake = threading.Event()
        self._sessions: dict[str, _Session] = {}  # by path in the machine
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def run_forever(self) -> None:
        while True:
            self.reconcile()
            self.wake.wait(RETRY)
            self.wake.clear()

    def reconcile(self) -> None:
        """Mount what is wanted and not mounted, unmount what is no longer wanted, and report."""
        with self._lock:
            try:
                wanted = {share.guest: share for share in self.shares()}
            except Exception as e:  # an unreadable record: keep what is mounted, say why
                log.warning("cannot read the shares: %s", e)
                return
            for guest, session in list(self._sessions.items()):
                if session.alive() and wanted.get(guest) == session.share:
                    continue
                if not session.alive():
                    self._failed[guest] = session.failure()
                    log.warning("share %s ended: %s", session.share, self._failed[guest])
                session.close()
                del self._sessions[guest]
                if guest not in wanted:
                    self._run(unmount_command(guest, self.sudo))
                    log.info("share at %s unmounted", guest)
            for guest in set(self._failed) - set(wanted):
                del self._failed[guest]
            for guest, share in wanted.items():
                if guest not in self._sessions:
                    self._mount(share)
            self.report({"mounted": sorted(self._sessions), "failed": self._failed})

    def _mount(self, share: Share) -> None:
        try:
            channel = self.link.transport().open_session(timeout=10)
            channel.exec_command(mount_command(share, self.sudo))
        except (Unavailable, paramiko.SSHException, EOFError, OSError) as e:
            self._failed[share.guest] = f"cannot reach the machine: {e}"
            return
        session = _Session(share, channel)
        if not session.wait_started(START_TIMEOUT):
            self._failed[share.guest] = session.failure()
            session.close()
            log.warning("share %s not mounted: %s", share, self._failed[share.guest])
            return
        self._sessions[share.guest] = session
        self._failed.pop(share.guest, None)
        log.info("share %s mounted", share)

    def _run(self, command: str) -> None:
        try:
            channel = self.link.transport().open_session(timeout=10)
            channel.exec_command(command)
            channel.status_event.wait(30)  # a hung machine never holds the tunnel up
            channel.close()
        except (Unavailable, paramiko.SSHException, EOFError, OSError) as e:
            log.warning("cannot run %r in the machine: %s", command, e)

    def close(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()
