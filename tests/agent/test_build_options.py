"""Build options dockerd's legacy builder honours: --add-host, --network, the first dockerfile= parameter,
.dockerignore exceptions; --cache-from, which this engine cannot honour, is refused; a build whose client leaves is
cancelled."""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent import IMAGE, Agent
from tests.support.http import call

pytestmark = pytest.mark.containers


def build(agent: Agent, context: Path, *args: str) -> str:
    """`docker build` of `context` with `args`; its output (the RUN steps' too)."""
    return agent.docker("build", "--no-cache", *args, str(context), timeout=300).stdout


def test_add_host_and_network_reach_the_run_steps(agent: Agent, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {IMAGE}\nRUN cat /etc/hosts; cat /proc/net/dev\n")
    hosts = build(agent, tmp_path, "--add-host", "buildhost:10.1.2.3", "-t", "optioned:1")
    assert "10.1.2.3\tbuildhost" in hosts and "eth0" in hosts
    isolated = build(agent, tmp_path, "--network", "none", "-t", "optioned:1")
    assert "lo:" in isolated and "eth0" not in isolated
    unknown = agent.docker("build", "--network", "no-such-net", str(tmp_path), check=False)
    assert unknown.returncode != 0 and "no-such-net" in unknown.stderr
    agent.docker("rmi", "optioned:1")


def test_dockerignore_exceptions_are_copied(agent: Agent, tmp_path: Path) -> None:
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    for name in ("dir/keep.txt", "dir/drop.txt", "dir/sub/deep.txt", "top.txt"):
        (tmp_path / name).write_text(name)
    (tmp_path / ".dockerignore").write_text("dir\n!dir/keep.txt\n")
    (tmp_path / "Dockerfile").write_text(f"FROM {IMAGE}\nCOPY . /ctx\nRUN cd /ctx && find . -type f | sort\n")
    output = build(agent, tmp_path, "-t", "ignoring:1")
    assert "./dir/keep.txt" in output and "./top.txt" in output
    assert "drop.txt" not in output and "deep.txt" not in output
    listing = agent.docker("run", "--rm", "ignoring:1", "ls", "-a", "/ctx/dir").stdout.split()
    assert listing == [".", "..", "keep.txt"]
    agent.docker("rmi", "ignoring:1")


def context_tar(files: dict[str, str]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return data.getvalue()


def test_the_first_dockerfile_parameter_wins_and_cachefrom_is_refused(agent: Agent, client: Any) -> None:
    import docker

    tar = context_tar({"first.Dockerfile": f"FROM {IMAGE}\nLABEL which=first\n", "second.Dockerfile": "FROM nope\n"})
    answer = call(
        agent.socket,
        "POST",
        "/v1.45/build?dockerfile=first.Dockerfile&dockerfile=second.Dockerfile&t=firstwins:1",
        raw=tar,
        timeout=300,
        headers={"Content-Type": "application/x-tar"},
    )
    assert answer.status == 200 and b"Successfully tagged firstwins:1" in answer.body, answer.body
    assert client.images.get("firstwins:1").labels["which"] == "first"
    client.images.remove("firstwins:1")
    with pytest.raises(docker.errors.APIError) as refused:
        list(
            client.api.build(
                fileobj=io.BytesIO(tar), custom_context=True, dockerfile="first.Dockerfile", cache_from=[IMAGE]
            )
        )
    assert refused.value.status_code == 400 and "cachefrom" in str(refused.value)


def test_a_build_whose_client_leaves_is_cancelled(agent: Agent, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {IMAGE}\nRUN echo started; sleep 600\n")
    cli = subprocess.Popen(
        ["docker", "build", "--no-cache", "-t", "never:1", str(tmp_path)],
        env=agent.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert cli.stdout is not None
        for line in cli.stdout:  # the RUN step's container is running once its output arrives
            if line.strip() == "started":
                break
        assert agent.docker("ps", "-q").stdout.strip()
    finally:
        cli.kill()
        cli.wait()
    work = agent.root / "images" / "tmp"

    def left() -> bool:
        return bool(agent.docker("ps", "-aq").stdout.strip() or list(work.glob("build-*")))

    deadline = time.monotonic() + 120
    while left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left()  # the step's container killed and removed, the build's folder gone: not left to run
    assert agent.docker("images", "-q", "never:1").stdout == ""


def test_resource_options_reach_the_run_steps(agent: Agent, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {IMAGE}\n"
        "RUN cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
        "ulimit -n; df -k /dev/shm | tail -1\n"
    )
    limited = build(
        agent,
        tmp_path,
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "--ulimit",
        "nofile=100:200",
        "--shm-size",
        "32m",
        "-t",
        "limited:1",
    )
    assert "67108864" in limited.splitlines() and "100" in limited.splitlines()
    assert any(line.split()[1:2] == ["32768"] for line in limited.splitlines() if line.startswith("shm"))
    refused = agent.docker("build", "--cpuset-cpus", "99", str(tmp_path), check=False)
    assert refused.returncode != 0 and "Requested CPUs are not available" in refused.stderr
    agent.docker("rmi", "limited:1")
