"""Status codes: the engine's errors as Docker answers them, and the protocol's own (unknown route, bad version)."""

from __future__ import annotations

from ...errors import (
    Conflict,
    EngineError,
    Exhausted,
    Forbidden,
    InvalidInput,
    NotFound,
    SystemFailure,
    Unauthorized,
    UpstreamFailure,
)

STATUS: dict[type[EngineError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    SystemFailure: 500,
    UpstreamFailure: 502,
    Exhausted: 503,
}


class HttpError(Exception):
    """An error of the protocol itself, with its status code: no such route, method not allowed, bad version."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def status_of(error: EngineError) -> int:
    """The status code of an engine error (of its closest kind that has one)."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500
