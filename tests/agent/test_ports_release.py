"""Published ports are given back whenever a container stops, so it (or another) can publish them again."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/var/www"]


def fetch(port: int, timeout: float = 30) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return bytes(urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def free(port: int, kind: socket.SocketKind) -> bool:
    """Whether this host can bind `port` itself (nothing holds it)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def test_stop_releases_tcp_and_udp_ports_and_restart_works(agent: Agent) -> None:
    agent.docker("run", "-d", "--name", "republish", "-p", "18101:80", "-p", "18102:53/udp", IMAGE, *HTTPD)
    try:
        assert fetch(18101) == b"hello from busybox httpd\n"
        assert not free(18101, socket.SOCK_STREAM) and not free(18102, socket.SOCK_DGRAM)
        agent.docker("stop", "-t", "1", "republish")
        assert free(18101, socket.SOCK_STREAM) and free(18102, socket.SOCK_DGRAM)
        agent.docker("start", "republish")
        assert fetch(18101) == b"hello from busybox httpd\n"
        for _ in range(2):
            agent.docker("restart", "-t", "1", "republish")
            assert fetch(18101) == b"hello from busybox httpd\n"
    finally:
        agent.docker("rm", "-f", "republish")
    assert free(18101, socket.SOCK_STREAM) and free(18102, socket.SOCK_DGRAM)


def test_restart_policy_republishes_after_each_exit(agent: Agent) -> None:
    """A container that exits on its own gives its ports back, so the restart policy can publish them again."""
    script = "httpd -p 80 -h /var/www; sleep 1; exit 1"
    agent.docker("run", "-d", "--name", "bouncing", "--restart", "always", "-p", "18103:80", IMAGE, "sh", "-c", script)
    try:
        deadline = time.monotonic() + 120
        while True:
            info = json.loads(agent.docker("inspect", "bouncing").stdout)[0]
            if info["RestartCount"] >= 3 and info["State"]["Status"] == "running":  # Running: restarting too
                break
            assert time.monotonic() < deadline, f"restarted only {info['RestartCount']} times: {info['State']}"
            time.sleep(0.2)
        assert info["State"]["Error"] == ""
        assert info["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "18103"}]
    finally:
        agent.docker("rm", "-f", "bouncing")
    assert free(18103, socket.SOCK_STREAM)
