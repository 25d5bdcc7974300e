"""Signals as the API names them: a number, `KILL`, or `SIGKILL`."""

from __future__ import annotations

import re
import signal

from ..errors import InvalidInput

_NUMBERS = {int(s) for s in signal.valid_signals()}


def number(sig: str | int | None, default: int = signal.SIGTERM) -> int:
    """The signal number of `sig` (the default when none is given); InvalidInput for one this host does not have."""
    if sig in (None, ""):
        return default
    text = str(sig)
    if re.fullmatch(r"\d{1,3}", text):
        if int(text) in _NUMBERS:
            return int(text)
        raise InvalidInput(f"invalid signal: {text}")
    name = text.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidInput(f"invalid signal: {sig}") from None


def valid(sig: str) -> bool:
    """Whether `sig` names a signal of this host."""
    try:
        number(sig)
    except InvalidInput:
        return False
    return True
