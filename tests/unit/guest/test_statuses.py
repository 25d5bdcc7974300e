"""The engine's errors as status codes: the only place that knows both is guest/api/http/errors.py."""

from __future__ import annotations

import pytest

from guest import errors
from guest.api.http.errors import status_of
from guest.builds.dockerfile import DockerfileError


@pytest.mark.parametrize(
    "error, status",
    [
        (errors.InvalidInput("x"), 400),
        (errors.Unsupported("x"), 400),
        (DockerfileError(3, "x"), 400),
        (errors.Unauthorized("x"), 401),
        (errors.Forbidden("x"), 403),
        (errors.NotFound("x"), 404),
        (errors.Conflict("x"), 409),
        (errors.SystemFailure("x"), 500),
        (errors.EngineError("x"), 500),
        (errors.UpstreamFailure("x"), 502),
        (errors.Exhausted("x"), 503),
    ],
)
def test_status_of(error: errors.EngineError, status: int) -> None:
    assert status_of(error) == status


def test_the_message_is_the_text_of_the_error() -> None:
    error = DockerfileError(7, "unknown instruction: BOGUS")
    assert error.message == str(error) == "Dockerfile parse error line 7: unknown instruction: BOGUS"
    assert error.detail == "unknown instruction: BOGUS"
