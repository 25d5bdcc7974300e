"""A runtime's refusal to start a process, read as dockerd reads it (translateContainerdStartErr): the exit code
it records and the error the client gets."""

from __future__ import annotations

from ..errors import EngineError, InvalidInput, SystemFailure


def exit_code(message: str) -> int | None:
    """127 for a command that does not exist, 126 for one that cannot be run, None for any other refusal."""
    text = message.lower()
    if ("executable file" in text and "not found" in text) or "no such file or directory" in text:
        return 127
    if "permission denied" in text:
        return 126
    return None


def error(message: str) -> EngineError:
    """A bad command is the client's to fix (400); anything else is the engine's failure."""
    return InvalidInput(message) if exit_code(message) is not None else SystemFailure(message)
