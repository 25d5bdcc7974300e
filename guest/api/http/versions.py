"""API versions: the one served, the oldest accepted, and the `/v1.xx/` prefix of versioned paths."""

from __future__ import annotations

from .errors import HttpError

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"


def _number(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def split(path: str) -> tuple[str | None, str]:
    """(version, path without the prefix) of `/v1.45/containers/json`; (None, path) for an unversioned path."""
    if path.startswith("/v"):
        version, slash, rest = path[2:].partition("/")
        major, dot, minor = version.partition(".")
        if slash and dot and _digits(major) and _digits(minor):
            return version, "/" + rest
    return None, path


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def check(version: str) -> None:
    """Refuse a client version outside MIN_API_VERSION..API_VERSION, as dockerd words it."""
    if _number(version) > _number(API_VERSION):
        raise HttpError(400, f"client version {version} is too new. Maximum supported API version is {API_VERSION}")
    if _number(version) < _number(MIN_API_VERSION):
        raise HttpError(
            400,
            f"client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, "
            f"please upgrade your client to a newer version",
        )
