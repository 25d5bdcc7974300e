"""Times: RFC 3339 as the agent writes it, and as it reads it from conmon, image configs and its own records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guest import times


@pytest.mark.parametrize(
    "stamp, seconds",
    [
        ("1970-01-01T00:00:01Z", 1.0),
        ("1970-01-01T00:00:01", 1.0),  # no zone: UTC
        ("1970-01-01T00:00:01.250000000Z", 1.25),
        ("1970-01-01T02:00:01.5+02:00", 1.5),
        ("1969-12-31T23:00:00-01:00", 0.0),
        ("2023-07-18T23:19:33.655005962Z", 1689722373.655006),
        ("not a time", 0.0),
        ("2024-13-01T00:00:00Z", 0.0),
        ("", 0.0),
    ],
)
def test_parse(stamp: str, seconds: float) -> None:
    assert times.parse(stamp) == pytest.approx(seconds)


def test_utc_writes_seconds_or_microseconds_with_a_z() -> None:
    assert times.utc(1.5) == "1970-01-01T00:00:01Z"
    assert times.utc(1.5, precise=True) == "1970-01-01T00:00:01.500000Z"
    assert times.parse(times.utc()) > 1_700_000_000


@given(st.integers(min_value=0, max_value=4_000_000_000), st.integers(min_value=0, max_value=999_999_999))
def test_what_utc_writes_parses_back_with_its_nanoseconds(seconds: int, nanos: int) -> None:
    stamp = times.utc(seconds)[:-1] + f".{nanos:09d}Z"
    assert times.parse(stamp) == pytest.approx(seconds + nanos / 1e9, abs=1e-6)
    assert times.nanoseconds(stamp) == f"{nanos:09d}"
    assert times.parse(times.utc(seconds)) == seconds


def test_nanoseconds_pads_short_fractions_and_ignores_the_zone() -> None:
    assert times.nanoseconds("2024-01-01T00:00:00.5+02:00") == "500000000"
    assert times.nanoseconds("2024-01-01T00:00:00Z") == "000000000"
