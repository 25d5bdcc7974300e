"""The agent under ordinary parallel use: many clients at once, idle connections and long-lived streams."""

from __future__ import annotations

import http.client
import os
import resource
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers

PING = b"GET /_ping HTTP/1.1\r\nHost: agent\r\n\r\n"


def connect(agent: Agent) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(120)
    sock.connect(str(agent.socket))
    return sock


def status(sock: socket.socket, request: bytes) -> int:
    sock.sendall(request)
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status


def threads(agent: Agent) -> int:
    assert agent.proc is not None
    return len(os.listdir(f"/proc/{agent.proc.pid}/task"))


def in_parallel(agent: Agent, commands: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda args: agent.docker(*args, check=False, timeout=300), commands))


def test_fifty_simultaneous_connects_are_all_answered(agent: Agent) -> None:
    clients = [connect(agent) for _ in range(50)]
    try:
        assert [status(sock, PING) for sock in clients] == [200] * 50
    finally:
        for sock in clients:
            sock.close()


def _queued(agent: Agent) -> int:
    """Connections the kernel holds for the agent's socket that the agent has not accepted yet."""
    listed = subprocess.run(["ss", "-xlnH"], capture_output=True, text=True, check=True).stdout
    return sum(int(line.split()[2]) for line in listed.splitlines() if f" {agent.socket} " in line)


def test_fifty_docker_clients_queue_while_the_agent_is_busy(agent: Agent) -> None:
    """50 docker CLIs connect while the agent accepts nothing (stopped, as a busy agent on a loaded host):
    the kernel queues them all and each is answered once the agent goes on, none told "Cannot connect"."""
    assert agent.proc is not None
    agent.proc.send_signal(signal.SIGSTOP)
    try:
        clients = [
            subprocess.Popen(["docker", "ps", "-q"], env=agent.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(50)
        ]
        deadline = time.monotonic() + 120
        while _queued(agent) + sum(c.poll() is not None for c in clients) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        agent.proc.send_signal(signal.SIGCONT)
    answers = [(c.communicate(timeout=300)[1].decode(), c.returncode) for c in clients]
    refused = [error for error, code in answers if code != 0]
    assert refused == [], f"{len(refused)} of 50 refused: {sorted(set(refused))}"


def test_a_thousand_idle_connections_take_no_thread_each(agent: Agent) -> None:
    before = threads(agent)
    clients = [connect(agent) for _ in range(1000)]
    try:
        for sock in clients[:300]:
            assert status(sock, PING) == 200  # kept alive after a request
        with connect(agent) as last:  # accepted after all the others
            assert status(last, PING) == 200
        assert threads(agent) - before < 100  # at most the pool's workers, not a thread per connection
    finally:
        for sock in clients:
            sock.close()


def test_long_lived_streams_do_not_starve_short_requests(agent: Agent) -> None:
    streams = [connect(agent) for _ in range(100)]  # more than the pool has workers
    try:
        for sock in streams:
            assert status(sock, b"GET /events HTTP/1.1\r\nHost: agent\r\n\r\n") == 200
        assert agent.docker("ps").returncode == 0
        assert agent.docker("run", "--rm", IMAGE, "echo", "served").stdout == "served\n"
    finally:
        for sock in streams:
            sock.close()


def test_twenty_concurrent_runs_and_removals(agent: Agent) -> None:
    runs = in_parallel(agent, [["run", "--rm", IMAGE, "echo", f"run-{i}"] for i in range(20)])
    assert [(r.returncode, r.stdout) for r in runs] == [(0, f"run-{i}\n") for i in range(20)]
    names = [f"load-{i}" for i in range(20)]
    started = in_parallel(agent, [["run", "-d", "--name", name, IMAGE, "sleep", "600"] for name in names])
    assert [r.returncode for r in started] == [0] * 20, [r.stderr for r in started if r.returncode]
    removed = in_parallel(agent, [["rm", "-f", name] for name in names])
    assert [r.returncode for r in removed] == [0] * 20, [r.stderr for r in removed if r.returncode]
    assert agent.docker("ps", "-aq", "--filter", "name=load-").stdout == ""
    assert "run-" not in agent.docker("ps", "-a", "--format", "{{.Command}}").stdout


def _until_closed(sock: socket.socket) -> bytes:
    """All the agent sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_stalled_idle_and_refused_requests_let_their_connection_go(tmp_path: Path) -> None:
    agent = Agent(tmp_path, ("--read-timeout", "1", "--idle-timeout", "1"))
    try:
        agent.start()
        with connect(agent) as stalled:  # a half-sent body: answered and closed, not held for ever
            stalled.sendall(
                b"POST /containers/create HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"Ima'
            )
            assert _until_closed(stalled).startswith(b"HTTP/1.1 408")
        with connect(agent) as idle:  # a keep-alive connection without a next request is closed
            idle.sendall(PING)
            assert _until_closed(idle).startswith(b"HTTP/1.1 200")
        with connect(agent) as sock:  # the body a 404 left unread is not taken for the next request
            body = b'{"a": 1}'
            sock.sendall(
                b"POST /nosuch HTTP/1.1\r\nHost: agent\r\nContent-Length: %d\r\n\r\n" % len(body) + body + PING
            )
            answers = _until_closed(sock)
            assert answers.startswith(b"HTTP/1.1 404") and answers.count(b"HTTP/1.1 200 OK") == 1
    finally:
        agent.cleanup()


def test_the_agent_raises_its_open_files_limit(tmp_path: Path) -> None:
    """Every connection is a file: the agent raises its soft limit to the hard one, as dockerd (Go) does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    agent = Agent(tmp_path)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        try:
            agent.start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert agent.proc is not None
        limits = Path(f"/proc/{agent.proc.pid}/limits").read_text()
        line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        assert line.split()[3:5] == [str(hard), str(hard)]
    finally:
        agent.cleanup()
