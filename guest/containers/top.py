"""`docker top`: ps on the host with the client's arguments, keeping the rows of the container's processes (as dockerd
does it: `ps ARGS -q PIDS`, or `ps ARGS` where -q does not combine with them)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from ..errors import InvalidInput, SystemFailure
from .record import Container
from .runtime import Runtime


def _ps() -> list[str]:
    if shutil.which("ps"):
        return ["ps"]
    busybox = shutil.which("busybox")
    if busybox:  # a guest without procps
        return [busybox, "ps"]
    raise SystemFailure("docker top needs ps: install procps")


def processes(runtime: Runtime, c: Container, ps_args: str) -> dict[str, Any]:
    """Titles and rows of `ps PS_ARGS` for the container's processes."""
    pids = runtime.pids(c.id)
    command = _ps() + ps_args.split()
    result = None
    if pids:
        result = subprocess.run([*command, "-q", ",".join(map(str, pids))], capture_output=True, text=True)
    if result is None or result.returncode != 0:
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["failed"])[0]
        raise InvalidInput(f"ps {ps_args}: {reason}")
    return parse(result.stdout, set(pids))


def parse(output: str, pids: set[int]) -> dict[str, Any]:
    """ps output as Titles and the Processes whose PID is in `pids` (thread lines `-` go with their process);
    the last column keeps its spaces."""
    lines = [line for line in output.splitlines() if line.strip()]
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise InvalidInput("Couldn't find PID field in ps output")
    column = titles.index("PID")
    rows: list[list[str]] = []
    keeping = False
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= column:
            continue
        if fields[column] != "-":
            try:
                keeping = int(fields[column]) in pids
            except ValueError:
                raise InvalidInput(f"unexpected pid {fields[column]!r} in ps output") from None
        if keeping:
            rows.append([*fields[: len(titles) - 1], " ".join(fields[len(titles) - 1 :])])
    return {"Titles": titles, "Processes": rows}
