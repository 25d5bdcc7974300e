"""`docker top`: the processes of a running container."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from .record import Container
from .runtime import Runtime


def processes(runtime: Runtime, c: Container, ps_args: str) -> dict[str, Any]:
    """Titles and rows of ps for the container's processes."""
    listed = runtime.run("ps", "--format", "json", c.id, check=False)
    try:
        pids = [str(p) for p in json.loads(listed.stdout or "[]")]
    except ValueError:
        pids = []
    if not pids:
        return {"Titles": ["PID", "CMD"], "Processes": []}
    out = subprocess.run(
        ["ps", "-o", "uid,pid,ppid,c,stime,tty,time,cmd", "-p", ",".join(pids)], capture_output=True, text=True
    )
    if out.returncode != 0:
        rows = [[p, " ".join(_cmdline(p))] for p in pids]
        return {"Titles": ["PID", "CMD"], "Processes": rows}
    lines = out.stdout.splitlines()
    titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    return {"Titles": titles, "Processes": [line.split(None, 7) for line in lines[1:]]}


def _cmdline(pid: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []
