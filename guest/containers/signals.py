"""Signals as the API names them: a number, `KILL`, or `SIGKILL`."""

from __future__ import annotations

import signal

from ..errors import InvalidInput


def number(sig: str | int | None, default: int = signal.SIGTERM) -> int:
    """The signal number of `sig` (the default when none is given)."""
    if sig in (None, ""):
        return default
    if isinstance(sig, int) or str(sig).isdigit():
        return int(sig)
    name = str(sig).upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidInput(f"invalid signal: {sig}") from None
