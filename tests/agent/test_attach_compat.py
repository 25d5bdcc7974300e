"""attach and exec sessions as dockerd serves them: logs-only attach, detach keys (default ctrl-p ctrl-q) that end
the session and leave the process running with its input still open."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def hijack(agent: Agent, path: str, body: dict[str, Any] | None = None) -> tuple[int, socket.socket]:
    """POST `path` asking for an upgraded connection; (status, the raw connection after the headers)."""
    payload = json.dumps(body).encode() if body is not None else b""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(60)
    sock.connect(str(agent.socket))
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: agent\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)
        if not data:
            break
        head += data
    return int(head.split(b" ", 2)[1]), sock


def read_until(sock: socket.socket, text: bytes) -> bytes:
    seen = b""
    while text not in seen:
        data = sock.recv(65536)
        assert data, f"connection closed before {text!r}; got {seen!r}"
        seen += data
    return seen


def read_to_end(sock: socket.socket) -> bytes:
    """Everything until the agent closes its side (it must, for the test to go on)."""
    seen = b""
    while data := sock.recv(65536):
        seen += data
    return seen


def status(agent: Agent, name: str) -> str:
    return agent.docker("inspect", "-f", "{{.State.Status}}", name).stdout.strip()


@pytest.fixture
def shell(agent: Agent) -> Iterator[str]:
    """A running `sh` with a TTY and open stdin, as `docker run -dit` makes."""
    agent.docker("run", "-dit", "--name", "tty-shell", IMAGE, "sh")
    try:
        yield "tty-shell"
    finally:
        agent.docker("rm", "-f", "tty-shell")


def test_attach_with_logs_and_no_stream_returns_the_logs_so_far(client: Any, agent: Agent) -> None:
    agent.docker("run", "--name", "logged", IMAGE, "sh", "-c", "echo one; echo two >&2")
    try:
        container = client.containers.get("logged")
        assert container.attach(logs=True, stream=False) == b"one\ntwo\n"
        assert client.api.attach("logged", logs=True, stream=False, demux=True) == (b"one\n", b"two\n")
        for _ in range(3):  # logs-only attaches must not make the next start skip waiting for its attacher
            container.attach(logs=True, stream=False)
        started = agent.docker("start", "-a", "logged")
        assert (started.stdout, started.stderr) == ("one\n", "two\n")
    finally:
        agent.docker("rm", "-f", "logged")


def test_detach_keys_end_an_attach_and_the_container_runs_on(agent: Agent, shell: str) -> None:
    code, sock = hijack(agent, f"/containers/{shell}/attach?stream=1&stdin=1&stdout=1&stderr=1")
    with sock:
        assert code == 101
        sock.sendall(b"echo first-$((1+1))\n")
        read_until(sock, b"first-2")
        sock.sendall(b"\x10\x11")  # ctrl-p ctrl-q
        read_to_end(sock)
    assert status(agent, shell) == "running"
    code, sock = hijack(agent, f"/containers/{shell}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,x")
    with sock:
        assert code == 101
        sock.sendall(b"echo \x10second-$((2+2))\n")  # ctrl-p alone is passed on: the shell still takes the line
        read_until(sock, b"second-4")
        sock.sendall(b"\x01x")
        read_to_end(sock)
    assert status(agent, shell) == "running"


def test_the_cli_detaches_and_the_input_stays_open(agent: Agent, shell: str) -> None:
    import pexpect

    for keys in ((), ("--detach-keys", "ctrl-a,x")):
        child = pexpect.spawn("docker", ["attach", *keys, shell], env=agent.env, timeout=60)
        try:
            child.sendline("echo typed-$((40+2))")  # reaches the shell after an earlier session detached
            child.expect("typed-42")
            for key in (b"\x01", b"x") if keys else (b"\x10", b"\x11"):
                child.send(key)
                time.sleep(0.2)  # typed, one key at a time
            child.expect(pexpect.EOF)
        finally:
            child.close()
        assert b"read escape sequence" in child.before  # the CLI's word for a detach
        assert status(agent, shell) == "running"


def test_detach_keys_end_an_exec_and_it_runs_on(client: Any, agent: Agent, shell: str) -> None:
    created = client.api.exec_create(shell, ["sh"], stdin=True, tty=True, detach_keys="ctrl-a,x")
    code, sock = hijack(agent, f"/exec/{created['Id']}/start", {"Tty": True})
    with sock:
        assert code == 101
        sock.sendall(b"echo in-exec-$((3+3))\n")
        read_until(sock, b"in-exec-6")
        sock.sendall(b"\x01x")
        read_to_end(sock)
    inspected = client.api.exec_inspect(created["Id"])
    assert inspected["Running"] and inspected["DetachKeys"] == "ctrl-a,x"


def test_bad_detach_keys_are_refused(client: Any, agent: Agent, shell: str) -> None:
    import docker

    code, sock = hijack(agent, f"/containers/{shell}/attach?stream=1&stdin=1&detachKeys=ctrl-1")
    sock.close()
    assert code == 400
    with pytest.raises(docker.errors.APIError) as refused:
        client.api.exec_create(shell, ["sh"], detach_keys="shift-a")
    assert refused.value.status_code == 400 and "shift-a" in str(refused.value)
