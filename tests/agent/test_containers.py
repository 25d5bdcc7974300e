"""Containers through the stock docker CLI and docker-py against the agent (real runc/crun + conmon)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def test_run_prints_and_removes(agent: Agent) -> None:
    assert agent.docker("run", "--rm", IMAGE, "echo", "hi").stdout == "hi\n"
    assert "hi" not in agent.docker("ps", "-a").stdout


def test_exit_code_passes_through(agent: Agent) -> None:
    result = agent.docker("run", "--rm", IMAGE, "sh", "-c", "echo to-stderr >&2; exit 3", check=False)
    assert result.returncode == 3 and "to-stderr" in result.stderr


def test_missing_command_and_image_are_clear_errors(agent: Agent) -> None:
    missing = agent.docker("run", "--rm", IMAGE, "no-such-binary", check=False)
    assert missing.returncode in (126, 127) and "no-such-binary" in missing.stderr
    image = agent.docker("create", "nosuchimage:1", check=False)
    assert image.returncode != 0 and "nosuchimage" in image.stderr


def test_detached_logs_exec_stop(agent: Agent) -> None:
    script = 'trap "" TERM; echo started; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done'
    cid = agent.docker("run", "-d", "--name", "ticker", IMAGE, "sh", "-c", script).stdout.strip()
    try:
        follow = subprocess.Popen(["docker", "logs", "-f", "ticker"], env=agent.env, stdout=subprocess.PIPE, text=True)
        assert follow.stdout is not None
        assert follow.stdout.readline() == "started\n"
        assert follow.stdout.readline().startswith("tick")
        assert agent.docker("exec", "ticker", "sh", "-c", "echo in-exec; exit 4", check=False).returncode == 4
        assert agent.docker("exec", "ticker", "cat", "/etc/hostname").stdout.strip() == cid[:12]
        rows = agent.docker("ps", "--format", "{{.Names}} {{.Status}}").stdout
        assert "ticker Up" in rows
        start = time.monotonic()
        agent.docker("stop", "-t", "1", "ticker")  # ignores SIGTERM: killed after 1 s
        assert 0.9 < time.monotonic() - start < 8
        follow.wait(10)  # logs -f ends when the container stops
        state = json.loads(agent.docker("inspect", "ticker").stdout)[0]["State"]
        assert (state["Status"], state["ExitCode"], state["Running"]) == ("exited", 137, False)
        tail = agent.docker("logs", "--tail", "1", "-t", "ticker").stdout
        assert len(tail.splitlines()) == 1 and tail[:4].isdigit() and "tick" in tail
        assert "Exited (137)" in agent.docker("ps", "-a", "--filter", "name=ticker").stdout
    finally:
        agent.docker("rm", "-f", "ticker", check=False)
    assert agent.docker("ps", "-aq", "--filter", "name=ticker").stdout == ""


def test_stdin_is_passed_and_half_closed(agent: Agent) -> None:
    assert agent.docker("run", "--rm", "-i", IMAGE, "cat", input="piped in\n").stdout == "piped in\n"


def test_run_and_exec_interactive_under_a_pty(agent: Agent) -> None:
    import pexpect

    child = pexpect.spawn(
        "docker", ["run", "--rm", "-it", "--name", "tty1", IMAGE, "sh"], env=agent.env, encoding="utf-8", timeout=20
    )
    try:
        child.expect("# ")
        child.sendline("echo typed-$((40+2)); tty")
        child.expect("typed-42")
        child.expect("/dev/pts/")
        exec_child = pexpect.spawn(
            "docker",
            ["exec", "-it", "tty1", "sh", "-c", "read x; echo got-$x"],
            env=agent.env,
            encoding="utf-8",
            timeout=20,
        )
        exec_child.sendline("value")
        exec_child.expect("got-value")
        exec_child.expect(pexpect.EOF)
        child.sendline("exit 5")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 5


def test_cp_both_ways(agent: Agent, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "file.txt").write_text("content\n")
    agent.docker("run", "-d", "--name", "cpbox", IMAGE, "sleep", "60")
    try:
        agent.docker("cp", str(src), "cpbox:/tmp/")
        assert agent.docker("exec", "cpbox", "cat", "/tmp/tree/sub/file.txt").stdout == "content\n"
        agent.docker("exec", "cpbox", "sh", "-c", "echo made-inside > /tmp/inside.txt")
        agent.docker("cp", "cpbox:/tmp/inside.txt", str(tmp_path / "out.txt"))
        assert (tmp_path / "out.txt").read_text() == "made-inside\n"
        agent.docker("cp", "cpbox:/etc", str(tmp_path / "etc"))
        assert (tmp_path / "etc" / "passwd").exists()
        missing = agent.docker("cp", "cpbox:/nope", str(tmp_path), check=False)
        assert missing.returncode != 0 and "Could not find the file /nope" in missing.stderr
    finally:
        agent.docker("rm", "-f", "cpbox")


def test_cp_out_of_a_stopped_container_streams_then_unmounts_its_rootfs(agent: Agent, tmp_path: Path) -> None:
    cid = agent.docker("create", IMAGE, "true").stdout.strip()
    try:
        agent.docker("cp", f"{cid}:/etc", str(tmp_path / "etc"))
        assert "root:" in (tmp_path / "etc" / "passwd").read_text()
        assert not os.path.ismount(agent.root / "containers" / cid / "bundle" / "rootfs")  # mounted for the stream
    finally:
        agent.docker("rm", "-f", cid)


def test_volumes_persist_and_read_only_binds_are_enforced(agent: Agent, tmp_path: Path) -> None:
    agent.docker("run", "--rm", "-v", "keep:/data", IMAGE, "sh", "-c", "echo persisted > /data/file")
    assert agent.docker("run", "--rm", "-v", "keep:/data", IMAGE, "cat", "/data/file").stdout == "persisted\n"
    assert "keep" in agent.docker("volume", "ls", "-q").stdout
    in_use = agent.docker("run", "-d", "--name", "holder", "-v", "keep:/data", IMAGE, "sleep", "60")
    try:
        refused = agent.docker("volume", "rm", "keep", check=False)
        assert refused.returncode != 0 and "in use" in refused.stderr
    finally:
        agent.docker("rm", "-f", in_use.stdout.strip())
    agent.docker("volume", "rm", "keep")
    (tmp_path / "host.txt").write_text("from host\n")
    ro = agent.docker(
        "run",
        "--rm",
        "-v",
        f"{tmp_path}:/host:ro",
        IMAGE,
        "sh",
        "-c",
        "cat /host/host.txt; echo x > /host/new",
        check=False,
    )
    assert ro.stdout == "from host\n" and ro.returncode != 0 and "Read-only" in ro.stderr
    assert not (tmp_path / "new").exists()
    rw = agent.docker("run", "--rm", "-v", f"{tmp_path}:/host", IMAGE, "sh", "-c", "echo y > /host/new")
    assert rw.returncode == 0 and (tmp_path / "new").read_text() == "y\n"


def test_default_confinement(agent: Agent) -> None:
    out = agent.docker(
        "run",
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "grep CapEff /proc/self/status; wc -c < /proc/timer_list; "
        "echo 1 > /proc/sys/kernel/panic 2>&1 || echo ro-sys; hostname; echo $$",
    ).stdout.split("\n")
    assert out[0].split()[1] == "00000000a80425fb"  # Docker's default capability set
    assert out[1].strip() == "0"  # /proc/timer_list is masked
    assert "ro-sys" in out[2]
    assert out[4] == "1"  # own pid namespace


def test_ps_filters_inspect_and_rm(agent: Agent) -> None:
    cid = agent.docker("create", "--name", "labelled", "--label", "team=blue", IMAGE, "true").stdout.strip()
    try:
        assert agent.docker("ps", "-aq", "--filter", "label=team=blue").stdout.strip() == cid[:12]
        assert (
            agent.docker("ps", "-aq", "--filter", "status=created", "--filter", "name=labelled").stdout.strip()
            == cid[:12]
        )
        assert (
            agent.docker("ps", "-aq", "--filter", f"ancestor={IMAGE}", "--filter", "id=" + cid[:8]).stdout.strip()
            == cid[:12]
        )
        assert agent.docker("ps", "-q").stdout.strip() == "" or cid[:12] not in agent.docker("ps", "-q").stdout
        info = json.loads(agent.docker("inspect", "labelled").stdout)[0]
        assert info["Name"] == "/labelled" and info["Config"]["Labels"] == {"team": "blue"}
        duplicate = agent.docker("create", "--name", "labelled", IMAGE, "true", check=False)
        assert duplicate.returncode != 0 and "already in use" in duplicate.stderr
        in_use = agent.docker("rmi", IMAGE, check=False)
        assert in_use.returncode != 0 and "being used" in in_use.stderr
    finally:
        agent.docker("rm", "labelled")
    assert agent.docker("inspect", "labelled", check=False).returncode != 0


def test_docker_py(client: object) -> None:
    import docker

    assert isinstance(client, docker.DockerClient)
    assert client.containers.run(IMAGE, ["echo", "from docker-py"], remove=True) == b"from docker-py\n"
    container = client.containers.run(IMAGE, ["sh", "-c", "echo ready; sleep 60"], detach=True, name="pyc")
    try:
        deadline = time.monotonic() + 10
        while b"ready" not in container.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert container.logs() == b"ready\n"
        code, output = container.exec_run(["sh", "-c", "echo exec-out; exit 2"])
        assert (code, output) == (2, b"exec-out\n")
        container.reload()
        assert container.status == "running" and container.attrs["HostConfig"]["LogConfig"]["Type"]
        stats = container.stats(stream=False)
        assert stats["memory_stats"]["usage"] > 0
        assert container.top()["Processes"]
        container.kill()
        assert container.wait(timeout=10)["StatusCode"] == 137
    finally:
        container.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("pyc")


def test_restart_policy_on_failure(agent: Agent) -> None:
    agent.docker("run", "-d", "--name", "flaky", "--restart", "on-failure:2", IMAGE, "sh", "-c", "exit 1")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = json.loads(agent.docker("inspect", "flaky").stdout)[0]
            if info["RestartCount"] == 2 and not info["State"]["Running"] and not info["State"]["Restarting"]:
                break
            time.sleep(0.2)
        assert info["RestartCount"] == 2 and info["State"]["ExitCode"] == 1
    finally:
        agent.docker("rm", "-f", "flaky")


def test_malformed_requests_get_clear_errors(agent: Agent) -> None:
    import socket

    def raw(request: bytes) -> bytes:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(agent.socket))
            s.sendall(request)
            return s.recv(65536)

    bad_json = raw(
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\n\r\n{oops"
    )
    assert bad_json.startswith(b"HTTP/1.1 400") and b"invalid JSON" in bad_json
    no_image = raw(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    assert no_image.startswith(b"HTTP/1.1 400") and b"Image" in no_image
    assert raw(b"GET /containers/nope/json HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 404")
    assert agent.docker("version").returncode == 0  # still alive
