"""Log drivers: json-file and local keep the container's output where logs and attach read it (conmon's log
file), none keeps nothing; other drivers, and log options this engine cannot honour, are refused."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput, Unsupported

DRIVERS = ("json-file", "local", "none")


def checked(log_config: Any) -> dict[str, Any]:
    """The LogConfig to record for a create request's (json-file when none is given)."""
    log_config = log_config or {}
    driver = log_config.get("Type") or "json-file"
    if driver not in DRIVERS:
        raise InvalidInput(
            f"failed to get logging factory: logger: no log driver named '{driver}' is registered "
            f"(this engine has {', '.join(DRIVERS)})"
        )
    options = log_config.get("Config") or {}
    if options and driver != "none":  # dockerd ignores the options of none, which logs nothing
        raise Unsupported(
            f"log options are not supported by this engine ({', '.join(sorted(options))} for {driver}): "
            f"remove them (the log is kept whole)"
        )
    return {"Type": driver, "Config": dict(options)}


def kept(host_config: dict[str, Any]) -> bool:
    """Whether the container's output is kept (readable by logs)."""
    return (host_config.get("LogConfig") or {}).get("Type") != "none"
