"""Run options applied as dockerd applies them: --group-add, bind propagation, volume subpaths, log drivers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def test_group_add_applies_to_the_container_and_its_execs(agent: Agent) -> None:
    run = agent.docker("run", "--rm", "--group-add", "nogroup", "--group-add", "4242", IMAGE, "id", "-G")
    assert sorted(run.stdout.split(), key=int) == ["0", "4242", "65534"]
    agent.docker("run", "-d", "--name", "grouped", "--group-add", "4242", IMAGE, "sleep", "600")
    try:
        assert agent.docker("exec", "grouped", "id", "-G").stdout.split() == ["0", "4242"]
    finally:
        agent.docker("rm", "-f", "grouped")
    missing = agent.docker("run", "--rm", "--group-add", "no-such-group", IMAGE, "true", check=False)
    assert missing.returncode != 0 and "Unable to find group no-such-group" in missing.stderr


@pytest.fixture
def shared_dir(tmp_path: Path) -> Iterator[Path]:
    """A host folder that is a shared mount of its own, as binds with shared or slave propagation need."""
    folder = tmp_path / "shared"
    (folder / "sub").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    subprocess.run(["mount", "--make-shared", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-R", "-l", str(folder)], check=False)


def test_bind_propagation(agent: Agent, shared_dir: Path) -> None:
    """A mount made on the host under an rslave bind after start shows inside; under the default rprivate not."""
    agent.docker("run", "-d", "--name", "slave", "-v", f"{shared_dir}:/data:rslave", IMAGE, "sleep", "600")
    agent.docker("run", "-d", "--name", "private", "-v", f"{shared_dir}:/data", IMAGE, "sleep", "600")
    try:
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(shared_dir / "sub")], check=True)
        assert " /data/sub " in agent.docker("exec", "slave", "cat", "/proc/mounts").stdout
        assert " /data/sub " not in agent.docker("exec", "private", "cat", "/proc/mounts").stdout
        mounts = json.loads(agent.docker("inspect", "slave").stdout)[0]["Mounts"]
        assert mounts[0]["Propagation"] == "rslave"
    finally:
        agent.docker("rm", "-f", "slave", "private")
    private = agent.docker(
        "run",
        "--rm",
        "--mount",
        f"type=bind,src={shared_dir.parent},dst=/d,bind-propagation=rshared",
        IMAGE,
        "true",
        check=False,
    )
    assert private.returncode != 0 and "is not a shared mount" in private.stderr


def test_volume_subpath(agent: Agent, tmp_path: Path) -> None:
    agent.docker("volume", "create", "subbed")
    try:
        agent.docker(
            "run",
            "--rm",
            "-v",
            "subbed:/v",
            IMAGE,
            "sh",
            "-c",
            "mkdir -p /v/inner && echo deep > /v/inner/f; ln -s / /v/out",
        )
        mount = "type=volume,src=subbed,dst=/sub,volume-subpath=inner"
        assert agent.docker("run", "--rm", "--mount", mount, IMAGE, "cat", "/sub/f").stdout == "deep\n"
        cid = agent.docker("run", "-d", "--mount", mount, IMAGE, "sleep", "600").stdout.strip()
        try:  # docker cp goes through the subpath, running or stopped
            (tmp_path / "in.txt").write_text("copied in\n")
            agent.docker("cp", str(tmp_path / "in.txt"), f"{cid}:/sub/in.txt")
            agent.docker("stop", "-t", "0", cid)
            assert not (agent.root / "containers" / cid / "subpaths").exists()  # the pins went with the run
            agent.docker("cp", f"{cid}:/sub/in.txt", str(tmp_path / "out.txt"))
            assert (tmp_path / "out.txt").read_text() == "copied in\n"
        finally:
            agent.docker("rm", "-f", cid)
        seen = agent.docker("run", "--rm", "-v", "subbed:/v", IMAGE, "cat", "/v/inner/in.txt").stdout
        assert seen == "copied in\n"
        for bad, message in [
            ("volume-subpath=missing", "no such file or directory"),
            ("volume-subpath=out", "escapes the volume"),
            ("volume-subpath=../x", "subpath must be a relative path within the volume"),
        ]:
            refused = agent.docker(
                "run", "--rm", "--mount", f"type=volume,src=subbed,dst=/sub,{bad}", IMAGE, "true", check=False
            )
            assert refused.returncode != 0 and message in refused.stderr, refused.stderr
    finally:
        agent.docker("volume", "rm", "subbed")


def test_log_drivers(agent: Agent) -> None:
    for driver in ("json-file", "local"):
        run = agent.docker("run", "--name", f"logged-{driver}", "--log-driver", driver, IMAGE, "echo", "kept")
        try:
            assert run.stdout == "kept\n"
            assert agent.docker("logs", f"logged-{driver}").stdout == "kept\n"
        finally:
            agent.docker("rm", "-f", f"logged-{driver}")
    run = agent.docker("run", "--name", "unlogged", "--log-driver", "none", IMAGE, "echo", "streamed")
    try:
        assert run.stdout == "streamed\n"  # attached output does not depend on the log
        logs = agent.docker("logs", "unlogged", check=False)
        assert logs.returncode != 0 and "configured logging driver does not support reading" in logs.stderr
    finally:
        agent.docker("rm", "-f", "unlogged")
    for refused_args, message in [
        (("--log-driver", "syslog"), "no log driver named 'syslog'"),
        (("--log-opt", "labels=a"), "unknown log opt 'labels' for json-file log driver"),
    ]:
        refused = agent.docker("create", *refused_args, IMAGE, "true", check=False)
        assert refused.returncode != 0 and message in refused.stderr, refused.stderr
