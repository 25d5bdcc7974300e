"""The tunnel of a booting machine waits for its SSH server with its own first connection (a real sshd on
loopback, started late, stands for the booting machine)."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import pytest

from machine.transport import ssh
from machine.transport.tunnel import Link
from machine.tunnelprocess import boot_connect
from tests.support.sshd import Sshd, answer_each, free_port

pytestmark = pytest.mark.ssh


def test_the_first_connection_waits_for_a_server_that_comes_up_late(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = Sshd(tmp_path)  # not listening yet: the machine boots
    pinned = " ".join(Path(f"{server.host_key}.pub").read_text().split()[:2])
    target = ssh.Target("boot-test", "127.0.0.1", server.port, "root", server.client_key, [pinned])
    caplog.set_level(logging.INFO, logger="machine.tunnel")
    starter = threading.Timer(1.0, server.start)
    starter.start()
    link = Link(boot_connect(lambda: target, boot_wait=60), lambda transport: None)
    try:
        assert link.transport().is_active()
        assert "Waiting for SSH: the machine boots" in caplog.text
        assert link.transport() is link.transport(), "one connection, kept"
    finally:
        starter.join(30)
        link.close()
        server.stop()


def test_only_the_first_connection_waits() -> None:
    port = free_port()
    connect = boot_connect(lambda: ssh.Target("boot-test", "127.0.0.1", port, "root", Path("/nonexistent")), 1.0)
    with pytest.raises(ssh.SSHError, match=f"cannot reach boot-test at 127.0.0.1:{port}: .*gave up after 1s"):
        connect()
    with pytest.raises(ssh.SSHError, match=f"cannot reach boot-test at 127.0.0.1:{port}: [^;]*$"):
        connect()  # one attempt: the link's own backoff spaces the next ones


def test_a_port_that_is_no_ssh_server_is_named() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    answer_each(listener, b"HTTP/1.1 400 Bad Request\r\n\r\n")
    connect = boot_connect(lambda: ssh.Target("boot-test", "127.0.0.1", port, "root", Path("/nonexistent")), 1.0)
    try:
        with pytest.raises(ssh.SSHError, match=f"SSH to boot-test at 127.0.0.1:{port} failed: .*banner"):
            connect()
    finally:
        listener.close()
