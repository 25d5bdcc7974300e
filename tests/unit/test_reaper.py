"""tests/support/reaper.py, which the harness starts libvirtd under: the orphans of its command are its own to
reap (not PID 1's), and it ends with its command's status once they all ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REAPER = Path(__file__).resolve().parents[1] / "support" / "reaper.py"


def parent_of(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    return int(status.split("\nPPid:", 1)[1].split()[0])


def test_the_commands_orphans_are_reaped_by_the_reaper_which_ends_with_the_commands_status(tmp_path: Path) -> None:
    pidfile = tmp_path / "orphan.pid"
    # sh leaves `sleep` behind (an orphan, as a daemonized qemu is) and exits
    reaper = subprocess.Popen([sys.executable, str(REAPER), "sh", "-c", f"sleep 600 & echo $! > {pidfile}; exit 3"])
    orphan = 0
    try:
        deadline = time.monotonic() + 60
        while not (pidfile.exists() and pidfile.read_text().endswith("\n")):
            assert time.monotonic() < deadline, "the command did not start"
            time.sleep(0.05)
        orphan = int(pidfile.read_text())
        while parent_of(orphan) != reaper.pid:  # sh has not exited yet
            assert time.monotonic() < deadline, "the orphan was not handed to the reaper"
            time.sleep(0.05)
        os.kill(orphan, signal.SIGTERM)
        assert reaper.wait(timeout=60) == 3  # once the orphan too has ended
        assert parent_of(orphan) is None  # reaped, not left a zombie
    finally:
        if orphan and parent_of(orphan) is not None:
            os.kill(orphan, signal.SIGKILL)
        reaper.kill()
        reaper.wait()


def test_a_command_that_cannot_run_is_said_and_ends_127() -> None:
    done = subprocess.run([sys.executable, str(REAPER), "no-such-command-here"], capture_output=True, text=True)
    assert done.returncode == 127 and "cannot run no-such-command-here" in done.stderr
