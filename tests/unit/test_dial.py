"""dial.first_connection on loopback: a port that listens late, and one whose SYNs go unanswered (a listener whose
accept queue is full drops them, as a booting guest without its address does)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from machine.transport import dial


@pytest.fixture
def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def full_listener() -> Iterator[socket.socket]:
    """A listener that answers no SYN: its accept queue (one connection) is full."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    filler = socket.create_connection(listener.getsockname())
    try:
        yield listener
    finally:
        filler.close()
        listener.close()


def test_a_port_that_listens_late_is_reached_by_one_connection(port: int) -> None:
    failures: list[OSError] = []
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def listen() -> None:
        listener.bind(("127.0.0.1", port))
        listener.listen(8)

    late = threading.Timer(0.6, listen)
    late.start()
    try:
        with dial.first_connection("127.0.0.1", port, timeout=30, failed=failures.append) as connected:
            assert connected.getpeername() == ("127.0.0.1", port)
            assert connected.getblocking()
            late.join()
            accepted, _ = listener.accept()
            accepted.close()
            listener.setblocking(False)
            with pytest.raises(BlockingIOError):
                listener.accept()  # the only connection the server saw
        assert len(failures) >= 2, "refused attempts are made again at once"
        assert all(isinstance(e, ConnectionRefusedError) for e in failures)
    finally:
        late.cancel()
        listener.close()


def test_unanswered_attempts_overlap_give_up_and_the_last_error_is_raised(full_listener: socket.socket) -> None:
    failures: list[OSError] = []
    host, port = full_listener.getsockname()
    with pytest.raises(TimeoutError, match="timed out"):
        dial.first_connection(host, port, timeout=1.5, failed=failures.append, every=0.1, patience=0.4)
    # one attempt at a time would have given up twice at most: these waited side by side
    assert len(failures) >= 4
    assert all(isinstance(e, TimeoutError) for e in failures)
