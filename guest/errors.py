"""What can go wrong in the engine, as its clients need to tell it apart (the API maps each to a status code).

The message is for a person: it says what failed and, where it can, what to do. Core modules raise these and
know nothing of HTTP; only guest/api/ turns them into responses.
"""

from __future__ import annotations

import errno

FULL = (errno.ENOSPC, errno.EDQUOT)  # the errnos of a full disk (NoSpace)


class EngineError(Exception):
    """An error reported to the client, with a message for a person."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(EngineError):
    """The request is malformed or names something in a way that cannot work."""


class Unsupported(InvalidInput):
    """The request asks for a feature this engine does not have."""


class Unauthorized(EngineError):
    """A registry wants credentials, or refused the ones given."""


class Forbidden(EngineError):
    """The operation is not allowed on this object (a builtin network, one still in use, a denied push)."""


class NotFound(EngineError):
    """No such container, image, volume, network, exec or file."""


class Conflict(EngineError):
    """The object's state or name is in the way (running, in use, name taken)."""


class SystemFailure(EngineError):
    """The host failed to do what was asked (a mount, a namespace, a port, the OCI runtime)."""


class NoSpace(SystemFailure):
    """The disk of the agent's state is full: the message names what could not be written."""


class UpstreamFailure(EngineError):
    """A registry or token service could not be reached or answered with an error."""


class Unimplemented(EngineError):
    """The operation exists, but not for this object (the logs of a container whose log driver keeps none)."""


class Unavailable(EngineError):
    """The engine is not in the mode the request needs (a swarm manager)."""


class Exhausted(EngineError):
    """A resource ran out (no free address left on a network)."""
