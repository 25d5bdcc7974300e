"""Status codes: the engine's errors as Docker answers them, and the protocol's own (unknown route, bad version)."""

from __future__ import annotations

from ...errors import (
    FULL,
    Conflict,
    EngineError,
    Exhausted,
    Forbidden,
    InvalidInput,
    NotFound,
    SystemFailure,
    Unauthorized,
    Unavailable,
    Unimplemented,
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
    Unimplemented: 501,
    Exhausted: 503,
    Unavailable: 503,
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


def answer_of(error: Exception) -> tuple[int, str] | None:
    """The status and message a client gets for `error`; None for a bug (the server logs its traceback)."""
    if isinstance(error, EngineError):
        return status_of(error), error.message
    if isinstance(error, HttpError):
        return error.status, error.message
    if isinstance(error, OSError) and error.errno in FULL:  # a write that no caller named
        where = f"cannot write {error.filename}: " if error.filename else ""
        return STATUS[SystemFailure], f"{where}no space left on device"
    return None
