"""A process's memory as the kernel counts it: the peak of its resident set while an operation runs (root)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def status_kb(pid: int, field: str) -> int:
    """A field of /proc/PID/status in kB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def peak_growth_mb(pid: int, operation: Callable[[], object]) -> float:
    """How far the RSS of process `pid` rose above its level before `operation`, at the highest."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak (VmHWM) starts again from the current RSS
    before = status_kb(pid, "VmRSS")
    operation()
    return (status_kb(pid, "VmHWM") - before) / 1024
