"""Run a daemon under a prompt reaper: `python3 tests/support/reaper.py COMMAND...`.

PID 1 of the machines these tests run on (not systemd) reaps orphans about 1.8 s after they end. libvirtd
daemonizes qemu, so a qemu that exited stays a zombie of PID 1 that long, and libvirtd, which waits until the
process is gone, reports the VM off only then: every shutdown here took 1.8 s longer than on a computer whose
init reaps at once. Started through this, COMMAND's orphans come here instead (a child subreaper, Linux only)
and are reaped as soon as they end. It exits when COMMAND and every orphan it took in have ended.
"""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36


def main(command: list[str]) -> int:
    if not command:
        print("usage: python3 tests/support/reaper.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"cannot become a subreaper: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    daemon = os.fork()
    if daemon == 0:
        try:
            os.execvp(command[0], command)
        except OSError as e:
            print(f"cannot run {command[0]}: {e.strerror}", file=sys.stderr)
        os._exit(127)
    status = 0
    while True:
        try:
            pid, code = os.wait()
        except ChildProcessError:  # nothing left to reap
            return status
        if pid == daemon:
            status = os.waitstatus_to_exitcode(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
