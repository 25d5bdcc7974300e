"""Waiting for a booting machine's SSH server without logging in (a real sshd on loopback)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from machine.transport import ssh
from tests.support.sshd import Sshd, answer_each, free_port

pytestmark = pytest.mark.ssh


def test_the_banner_is_waited_for_without_a_login(own_sshd: Callable[..., Sshd]) -> None:
    server = own_sshd()
    target = ssh.Target("boot-test", "127.0.0.1", server.port, "root", server.client_key)
    ssh.wait_for_banner(target, timeout=10)
    time.sleep(0.2)
    assert server.session_pids() == [], "no session is left behind: nothing logged in"
    assert "Accepted" not in (server.base / "sshd.log").read_text()


def test_a_server_that_comes_up_late_is_found_and_one_that_never_does_is_an_error() -> None:
    port = free_port()
    target = ssh.Target("boot-test", "127.0.0.1", port, "root", Path("/nonexistent"))
    said: list[str] = []
    with pytest.raises(ssh.SSHError, match=f"cannot reach boot-test at 127.0.0.1:{port}: .*gave up after 1s"):
        ssh.wait_for_banner(target, timeout=1, progress=said.append)
    assert said == ["Waiting for SSH"]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def serve_late() -> None:  # an SSH server that starts 0.5 s into the wait
        time.sleep(0.5)
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
        conn, _ = listener.accept()
        conn.sendall(b"SSH-2.0-late\r\n")
        conn.close()

    thread = threading.Thread(target=serve_late, daemon=True)
    thread.start()
    try:
        ssh.wait_for_banner(target, timeout=10)
    finally:
        thread.join(10)
        listener.close()


def test_a_port_that_is_no_ssh_server_is_named() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    answer_each(listener, b"HTTP/1.1 400 Bad Request\r\n\r\n")
    target = ssh.Target("boot-test", "127.0.0.1", port, "root", Path("/nonexistent"))
    try:
        with pytest.raises(ssh.SSHError, match=f"127.0.0.1:{port} does not answer as an SSH server"):
            ssh.wait_for_banner(target, timeout=1)
    finally:
        listener.close()
