"""The head of every answer: its status line and the headers every answer carries (as dockerd sends them)."""

from __future__ import annotations

import time

from ... import __version__
from . import versions

SERVER = f"machine-agent/{__version__} (linux)"


def http_date() -> str:
    """The Date header's value, now (RFC 9110's IMF-fixdate)."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())


def common_headers() -> dict[str, str]:
    return {"Api-Version": versions.API_VERSION, "Docker-Experimental": "false", "Ostype": "linux"}


def encode(status: int, reason: str, headers: dict[str, str]) -> bytes:
    """The status line, Server, Date, the common headers and then `headers`, ending with the blank line."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    everything = {"Server": SERVER, "Date": http_date(), **common_headers(), **headers}
    lines += [f"{name}: {value}" for name, value in everything.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
