"""Request bodies: Content-Length and chunked transfer, driven from bytes as a client sends them."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guest.api.http.bodies import ChunkedReader, LengthReader
from guest.api.http.errors import HttpError


def chunked(data: bytes, sizes: list[int]) -> bytes:
    out, rest = b"", data
    for size in sizes:
        piece, rest = rest[:size], rest[size:]
        if piece:
            out += b"%x;ext=1\r\n%s\r\n" % (len(piece), piece)
    if rest:
        out += b"%x\r\n%s\r\n" % (len(rest), rest)
    return out + b"0\r\nTrailer: x\r\n\r\n"


def test_length_reader_stops_at_the_length() -> None:
    source = io.BytesIO(b"0123456789NEXT REQUEST")
    body = io.BufferedReader(LengthReader(source, 10))
    assert body.read() == b"0123456789"
    assert source.read() == b"NEXT REQUEST"  # the connection's next request is untouched


def test_chunked_reader_decodes_and_leaves_the_next_request() -> None:
    source = io.BytesIO(chunked(b"hello, world", [5, 2]) + b"GET /next")
    assert io.BufferedReader(ChunkedReader(source)).read() == b"hello, world"
    assert source.read() == b"GET /next"


@given(st.binary(max_size=3000), st.lists(st.integers(min_value=1, max_value=700), max_size=8))
def test_chunked_round_trip(data: bytes, sizes: list[int]) -> None:
    assert io.BufferedReader(ChunkedReader(io.BytesIO(chunked(data, sizes)))).read() == data


@pytest.mark.parametrize(
    "raw, message",
    [(b"zz\r\nabc\r\n0\r\n\r\n", "malformed chunked request body"), (b"10\r\nshort", "request body ended early")],
)
def test_broken_chunked_bodies_are_a_400(raw: bytes, message: str) -> None:
    with pytest.raises(HttpError) as caught:
        io.BufferedReader(ChunkedReader(io.BytesIO(raw))).read()
    assert (caught.value.status, caught.value.message) == (400, message)
