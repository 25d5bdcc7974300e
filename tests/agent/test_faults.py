"""Faults: starts that fail, the agent killed in the middle of work, a full disk."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


@pytest.mark.parametrize(
    "args, error",
    [
        (["/no/such/binary"], "no such file"),
        (["--entrypoint", "/nope", IMAGE], "no such file"),
        (["-w", "/etc/passwd", IMAGE, "true"], "not a directory"),
        (["--network", "container:nosuch", IMAGE, "true"], "nosuch"),
        (["--user", "nosuchuser", IMAGE, "true"], "nosuchuser"),
    ],
    ids=["missing-binary", "bad-entrypoint", "bad-workdir", "missing-network-peer", "missing-user"],
)
def test_run_rm_whose_start_fails_ends_with_the_error(agent: Agent, args: list[str], error: str) -> None:
    if args[0].startswith("/"):
        args = [IMAGE, *args]
    try:
        result = agent.docker("run", "--rm", "--name", "failing-start", *args, check=False, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"docker run --rm {' '.join(args)} hung")
    assert result.returncode != 0 and error in result.stderr
    assert agent.docker("ps", "-aq", "--filter", "name=failing-start").stdout == ""  # --rm removed it


def test_attach_ends_when_the_start_fails(agent: Agent) -> None:
    cid = agent.docker("create", "--network", "container:nosuch", IMAGE, "true").stdout.strip()
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(60)
            sock.connect(str(agent.socket))
            sock.sendall(
                f"POST /containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: agent\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode()
            )
            assert sock.recv(4096).startswith(b"HTTP/1.1 101")
            start = agent.docker("start", cid, check=False)
            assert start.returncode != 0 and "nosuch" in start.stderr
            assert sock.recv(4096) == b""  # the attach ends, no output
        state = json.loads(agent.docker("inspect", cid).stdout)[0]["State"]
        assert state["Status"] == "created" and "nosuch" in state["Error"]
    finally:
        agent.docker("rm", "-f", cid, check=False)


def test_attach_calls_whose_client_hung_up_end(agent: Agent) -> None:
    assert agent.proc is not None
    tasks = Path(f"/proc/{agent.proc.pid}/task")
    cid = agent.docker("create", IMAGE, "true").stdout.strip()
    before = len(list(tasks.iterdir()))
    try:
        for _ in range(100):  # waiting for a start that never comes, more of them than the pool has workers
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(60)
                sock.connect(str(agent.socket))
                sock.sendall(
                    f"POST /containers/{cid}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: agent\r\n"
                    "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode()
                )
                assert sock.recv(4096).startswith(b"HTTP/1.1 101")
        deadline = time.monotonic() + 60
        while len(list(tasks.iterdir())) - before >= 80 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(list(tasks.iterdir())) - before < 80  # idle workers at most, not a thread per hung-up client
    finally:
        agent.docker("rm", "-f", cid, check=False)


def test_a_client_that_closes_stdin_at_once_still_gets_the_output(agent: Agent) -> None:
    for _ in range(5):  # stdin ends (a half-close) before the container starts: the attach must go on
        assert agent.docker("run", "--rm", "-i", IMAGE, "sh", "-c", "sleep 0.5; echo out", input="").stdout == "out\n"
