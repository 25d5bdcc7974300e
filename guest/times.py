"""Times as the Engine API writes and reads them: RFC 3339, in UTC when the agent writes them."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")


def utc(seconds: float | None = None, precise: bool = False) -> str:
    """`seconds` (now when None) in RFC 3339 with a Z: to the second, or to the microsecond when `precise`."""
    moment = datetime.now(timezone.utc) if seconds is None else datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if precise else "%Y-%m-%dT%H:%M:%SZ")


def parse(stamp: str) -> float:
    """Unix time of an RFC 3339 timestamp (any fraction, Z or an offset; none is UTC); 0.0 when unreadable."""
    found = _STAMP.fullmatch(stamp.strip())
    if not found:
        return 0.0
    base, fraction, zone = found.groups()
    try:
        moment = datetime.fromisoformat(base + ("+00:00" if zone in (None, "Z") else zone))
    except ValueError:
        return 0.0
    return moment.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def nanoseconds(stamp: str) -> str:
    """The fraction of a timestamp's second, as nine digits."""
    found = _STAMP.fullmatch(stamp.strip())
    return ((found.group(2) if found else None) or "")[:9].ljust(9, "0")
