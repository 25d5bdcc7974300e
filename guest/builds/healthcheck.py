"""The HEALTHCHECK instruction as Docker's builder reads it: `NONE`, or `CMD` with a JSON list (exec form) or a shell
command, and its --interval/--timeout/--start-period/--start-interval (Go durations) and --retries flags."""

from __future__ import annotations

import json
import re
from typing import Any

from .dockerfile import Instruction

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000}
_UNITS["h"] = 60 * _UNITS["m"]
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATIONS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "start-interval": "StartInterval",
}


def duration(text: str) -> int:
    """Nanoseconds of a Go duration (`30s`, `1m30s`, `500ms`); ValueError for anything else."""
    if text == "0":
        return 0
    parts = _PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(text)
    return int(sum(float(number) * _UNITS[unit] for number, unit in parts))


def parse(inst: Instruction, text: str) -> dict[str, Any]:
    """The image's Healthcheck from a HEALTHCHECK instruction (DockerfileError for a malformed one)."""
    kind, _, rest = text.strip().partition(" ")
    if kind.upper() == "NONE":
        if rest.strip() or inst.flags:
            raise inst.error("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if kind.upper() != "CMD" or not rest.strip():
        raise inst.error(f'Unknown type "{kind}" in HEALTHCHECK (try CMD) or a missing command')
    try:
        exec_form = json.loads(rest)
    except ValueError:
        exec_form = None
    if isinstance(exec_form, list) and exec_form and all(isinstance(a, str) for a in exec_form):
        check: dict[str, Any] = {"Test": ["CMD", *exec_form]}
    else:
        check = {"Test": ["CMD-SHELL", rest.strip()]}
    for flag, value in inst.flags.items():
        try:
            if flag == "retries":
                check["Retries"] = int(value)
            else:
                check[_DURATIONS[flag]] = duration(value)
        except (KeyError, ValueError):
            raise inst.error(f"HEALTHCHECK --{flag}: invalid value {value!r}") from None
    return check
