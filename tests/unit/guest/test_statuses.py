"""The engine's errors as status codes: the only place that knows both is guest/api/http/errors.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from guest import errors
from guest.api.http.errors import answer_of, status_of
from guest.builds.dockerfile import DockerfileError
from guest.files import write_atomic


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


def test_a_full_disk_is_a_500_that_says_so() -> None:
    assert answer_of(errors.NoSpace("cannot write /x: no space left on device")) == (
        500,
        "cannot write /x: no space left on device",
    )
    assert answer_of(OSError(28, "No space left on device", "/state/f")) == (
        500,
        "cannot write /state/f: no space left on device",
    )
    assert answer_of(OSError(28, "No space left on device")) == (500, "no space left on device")
    assert answer_of(KeyError("bug")) is None  # a bug: the server logs its traceback


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    target.write_text("old")
    (tmp_path / "record.json.tmp").symlink_to("/dev/full")  # writes there fail as on a full disk
    with pytest.raises(errors.NoSpace, match="record.json: no space left on device"):
        write_atomic(target, "new")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]
