"""`machine run/ps/logs/exec/...` through docker-py and the tunnel (generic machine, real agent)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from machine.busybox import image_tar

from .conftest import Provisioned

pytestmark = [pytest.mark.ssh, pytest.mark.containers]


@pytest.fixture
def loaded(provisioned: Provisioned, tmp_path: Path) -> Provisioned:
    provisioned.cli("use", "dev")
    image_tar(tmp_path / "busybox.tar", "busybox:test")
    assert "Loaded image: busybox:test" in provisioned.cli("load", "-i", str(tmp_path / "busybox.tar")).stdout
    return provisioned


def test_run_echo_and_exit_codes(loaded: Provisioned) -> None:
    cli = loaded.cli
    assert cli("run", "--rm", "busybox:test", "echo", "hi").stdout == "hi\n"
    failed = cli("run", "--rm", "busybox:test", "sh", "-c", "echo err >&2; exit 3", check=False)
    assert failed.returncode == 3 and failed.stderr == "err\n"
    assert cli("run", "--rm", "-i", "busybox:test", "cat", input="typed\n").stdout == "typed\n"
    missing = cli("run", "--rm", "nosuch:1", "true", check=False)
    assert missing.returncode == 125 and "No such image" in missing.stderr


def test_detached_ps_logs_exec_stop_rm(loaded: Provisioned) -> None:
    cli = loaded.cli
    cid = cli("run", "-d", "--name", "bg", "busybox:test", "sh", "-c", "echo up; sleep 60").stdout.strip()
    assert len(cid) == 64
    assert "bg" in cli("ps").stdout and cid[:12] in cli("ps", "-q").stdout
    assert cli("logs", "bg").stdout == "up\n"
    assert cli("exec", "bg", "sh", "-c", "exit 4", check=False).returncode == 4
    assert cli("container", "stop", "bg").stdout == "bg\n"
    assert "Exited" in cli("ps", "-a").stdout
    cli("container", "rm", "bg")
    assert "bg" not in cli("ps", "-a").stdout
    assert "busybox" in cli("images").stdout


def test_run_interactive_under_a_pty(loaded: Provisioned) -> None:
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "machine", "run", "--rm", "-it", "busybox:test", "sh"],
                          env=loaded.cli.env, encoding="utf-8", timeout=30)
    try:
        child.expect("# ")
        child.sendline("echo via-$((1+1))-tunnel")
        child.expect("via-2-tunnel")
        child.sendline("exit 6")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 6


@pytest.mark.skipif(not shutil.which("docker"), reason="the docker CLI is not installed")
def test_machine_docker_runs_the_local_cli(loaded: Provisioned) -> None:
    result = loaded.cli("docker", "dev", "ps", "-a")
    assert result.stdout.startswith("CONTAINER ID")
