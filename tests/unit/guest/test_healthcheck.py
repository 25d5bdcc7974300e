"""Health check settings: Dockerfile HEALTHCHECK, Go durations, merging with the image's, the probe command."""

from __future__ import annotations

import pytest

from guest.builds import dockerfile
from guest.builds.dockerfile import DockerfileError
from guest.builds.healthcheck import duration, parse
from guest.containers.healthcheck import merged, probe_command


def test_go_durations() -> None:
    assert duration("1s") == 1_000_000_000 and duration("1m30s") == 90_000_000_000
    assert duration("500ms") == 500_000_000 and duration("1.5h") == 5_400_000_000_000 and duration("0") == 0
    for bad in ("", "1", "1x", "s", "1s2"):
        with pytest.raises(ValueError):
            duration(bad)


def test_healthcheck_instruction() -> None:
    inst = dockerfile.parse_instruction(1, 'HEALTHCHECK --interval=2s --retries=4 CMD ["curl", "-f", "x"]')
    assert parse(inst, inst.raw) == {"Test": ["CMD", "curl", "-f", "x"], "Interval": 2_000_000_000, "Retries": 4}
    inst = dockerfile.parse_instruction(1, "HEALTHCHECK CMD test -f /ok || exit 1")
    assert parse(inst, inst.raw) == {"Test": ["CMD-SHELL", "test -f /ok || exit 1"]}
    inst = dockerfile.parse_instruction(1, "HEALTHCHECK NONE")
    assert parse(inst, inst.raw) == {"Test": ["NONE"]}
    for bad in ("HEALTHCHECK RUN x\n", "HEALTHCHECK --interval=soon CMD x"):
        with pytest.raises(DockerfileError):
            inst = dockerfile.parse_instruction(1, bad)
            parse(inst, inst.raw)


def test_merge_and_probe_command() -> None:
    image = {"Test": ["CMD-SHELL", "true"], "Interval": 5}
    assert merged(None, image) == image
    assert merged({"Retries": 2}, image) == {"Test": ["CMD-SHELL", "true"], "Interval": 5, "Retries": 2}
    assert merged({"Test": ["NONE"]}, image) == {"Test": ["NONE"], "Interval": 5}
    assert probe_command({"Test": ["NONE"]}, None) is None
    assert probe_command({"Test": ["CMD-SHELL", "a b"]}, None) == ["/bin/sh", "-c", "a b"]
    assert probe_command({"Test": ["CMD", "a", "b"]}, None) == ["a", "b"]
