"""Container records read at start-up: one that is not what the agent wrote is named and skipped, never loaded."""

from __future__ import annotations

from typing import Any

import pytest

from guest.containers.record import invalid

ID = "a" * 64
GOOD: dict[str, Any] = {
    "Id": ID,
    "Name": "/web",
    "Created": "2024-01-01T00:00:00Z",
    "Image": "sha256:" + "b" * 64,
    "Config": {},
    "HostConfig": {},
    "Mounts": [{"Type": "volume", "Destination": "/data"}],
    "RestartCount": 0,
    "State": {"Status": "exited", "ExitCode": 0, "FinishedAt": "2024-01-01T00:00:00Z"},
}


def test_a_record_the_agent_wrote_is_valid() -> None:
    assert invalid(GOOD, ID) == ""


@pytest.mark.parametrize(
    "record, why",
    [
        ([], "no readable container.json"),
        (None, "no readable container.json"),
        ({**GOOD, "State": "running"}, "State is not a dict"),
        ({**GOOD, "State": {**GOOD["State"], "ExitCode": "3"}}, "State.ExitCode is not a int"),
        ({**GOOD, "HostConfig": None}, "HostConfig is not a dict"),
        ({**GOOD, "Id": "../../" + ID}, "is not its folder's name"),
        ({**GOOD, "Mounts": ["x"]}, "Mounts holds an entry that is not a mount"),
        ({**GOOD, "NetworkSettings": ["x"]}, "NetworkSettings is not an object"),
        ({k: v for k, v in GOOD.items() if k != "Name"}, "Name is not a str"),
    ],
)
def test_a_record_of_another_shape_is_named_and_refused(record: object, why: str) -> None:
    assert why in invalid(record, ID)
