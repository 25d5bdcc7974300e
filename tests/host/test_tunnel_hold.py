"""The tunnel's link held while its machine is saved, and released when the machine is resumed (a real sshd on
loopback stands for the machine)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest

from machine.transport import ssh
from machine.transport.tunnel import Held, Link, SocketForwarder
from tests.support.sshd import Sshd

pytestmark = pytest.mark.ssh

Resumed = Callable[[paramiko.Transport], None]


@pytest.fixture
def machine(own_sshd: Callable[..., Sshd]) -> Iterator[tuple[Sshd, Callable[[Resumed], Link]]]:
    """A machine's sshd of the test's own, and links to it (closed after the test)."""
    server = own_sshd()
    target = ssh.Target("hold-test", "127.0.0.1", server.port, "root", server.client_key)
    links: list[Link] = []

    def link(on_resume: Resumed) -> Link:
        links.append(Link(lambda: ssh.connect(target, learn=lambda key: None), on_resume))
        return links[-1]

    try:
        yield server, link
    finally:
        for each in links:
            each.close()


def test_a_held_link_keeps_its_connection_quiet_and_resumes_on_it(
    machine: tuple[Sshd, Callable[[Resumed], Link]], tmp_path: Path
) -> None:
    server, make_link = machine
    resumed_on: list[paramiko.Transport] = []
    link = make_link(resumed_on.append)
    service = socket.create_server(("127.0.0.1", 0))  # what a client reaches in the machine
    forwarder = SocketForwarder("dev", link, tmp_path / "docker.sock", "/run/no-agent.sock")
    forwarder.listen()
    threading.Thread(target=forwarder.serve_forever, daemon=True).start()
    try:
        first = link.transport()
        sessions = server.session_pids()
        client = link.open_tcp("127.0.0.1", service.getsockname()[1])
        served, _ = service.accept()
        served.settimeout(10)

        link.hold("its state is saved")
        assert served.recv(10) == b"", "a client's channel is closed while the machine can still take its end"
        assert link.held and client.closed
        with pytest.raises(Held, match="its state is saved"):
            link.open_tcp("127.0.0.1", service.getsockname()[1])
        with socket.socket(socket.AF_UNIX) as docker:
            docker.settimeout(10)
            docker.connect(str(tmp_path / "docker.sock"))
            docker.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b"".join(iter(lambda: docker.recv(65536), b""))
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"machine dev is stopped (its state is saved): start it with `machine start dev`" in answer
        assert resumed_on == [] and first.is_active() and server.session_pids() == sessions

        link.release()
        assert link.transport() is first and link.transport() is first
        assert resumed_on == [first], "the resumed machine is brought up to date once, on the kept connection"
        assert server.session_pids() == sessions
    finally:
        forwarder.close()
        service.close()


def test_a_resume_whose_connection_ended_reconnects(machine: tuple[Sshd, Callable[[Resumed], Link]]) -> None:
    server, make_link = machine
    resumed_on: list[paramiko.Transport] = []
    link = make_link(resumed_on.append)
    first = link.transport()
    link.hold("its state is saved")
    for pid in server.session_pids():  # the machine booted instead, or the connection timed out meanwhile
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while first.is_active() and time.monotonic() < deadline:
        time.sleep(0.05)
    link.release()
    second = link.transport()
    assert second is not first and second.is_active() and resumed_on == [second]


def test_a_kept_connection_that_fails_the_resume_is_replaced(machine: tuple[Sshd, Callable[[Resumed], Link]]) -> None:
    _, make_link = machine
    resumed_on: list[paramiko.Transport] = []

    def on_resume(transport: paramiko.Transport) -> None:
        resumed_on.append(transport)
        if len(resumed_on) == 1:
            raise ssh.SSHError("`date` did not finish within 5s")  # a kept connection that stalls

    link = make_link(on_resume)
    first = link.transport()
    link.hold("its state is saved")
    link.release()
    second = link.transport()
    assert resumed_on == [first, second] and not first.is_active() and second.is_active()
