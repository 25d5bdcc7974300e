"""`machine run/ps/logs/exec/...` through docker-py and the tunnel (generic machine, real agent)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from machine.busybox import image_tar
from tests.support.cli import Provisioned

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

    child = pexpect.spawn(
        sys.executable,
        ["-m", "machine", "run", "--rm", "-it", "busybox:test", "sh"],
        env=loaded.cli.env,
        encoding="utf-8",
        timeout=30,
    )
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


def test_published_port_reaches_this_computer_through_the_tunnel(loaded: Provisioned) -> None:
    import urllib.request

    # guest and "user's computer" are the same host here: the agent publishes on 127.0.0.2 and the
    # tunnel serves 127.0.0.1 (as on a real user's computer), so the two do not collide
    loaded.cli(
        "run",
        "-d",
        "--name",
        "site",
        "-p",
        "127.0.0.2:18080:80",
        "busybox:test",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/var/www",
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            body = urllib.request.urlopen("http://127.0.0.1:18080/", timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert body == b"hello from busybox httpd\n"
    loaded.cli("container", "rm", "-f", "site")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen("http://127.0.0.1:18080/", timeout=1)
            time.sleep(0.2)
        except OSError:
            break
    else:
        raise AssertionError("the forwarded port stayed open after the container was removed")


def test_published_ports_follow_again_after_the_agent_restarts(loaded: Provisioned) -> None:
    """The tunnel's port follower outlives an agent restart (its socket refuses meanwhile)."""
    import urllib.request

    loaded.cli("ps")  # the tunnel runs and follows the agent's events
    assert "upgraded" in loaded.cli("upgrade", "dev").stderr  # the agent restarts behind the tunnel
    loaded.cli("run", "-d", "--name", "late", "-p", "127.0.0.2:18081:80", "busybox:test", "httpd", "-f", "-p", "80")
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen("http://127.0.0.1:18081/", timeout=2)
        except urllib.error.HTTPError:
            break  # httpd answered (404: it serves an empty folder)
        except OSError:
            assert time.monotonic() < deadline, "the port published after the agent restart is not forwarded"
            time.sleep(0.2)
        else:
            break
    loaded.cli("container", "rm", "-f", "late")


def test_upgrade_keeps_containers_running(loaded: Provisioned) -> None:
    loaded.cli("run", "-d", "--name", "longrun", "busybox:test", "sleep", "300")
    assert "upgraded" in loaded.cli("upgrade", "dev").stderr
    assert "longrun" in loaded.cli("ps").stdout
    assert loaded.cli("exec", "longrun", "echo", "alive").stdout == "alive\n"


def test_images_volumes_networks_cp_port(loaded: Provisioned, tmp_path: Path) -> None:
    import shutil as sh

    from tests.support.registry import Registry

    cli = loaded.cli
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text('FROM busybox:test\nRUN echo built > /built\nCMD ["cat", "/built"]\n')
    assert "Successfully built" in cli("build", "-t", "native:1", str(tmp_path / "ctx")).stdout
    assert cli("run", "--rm", "native:1").stdout == "built\n"
    cli("tag", "native:1", "native:2")
    assert "native" in cli("images").stdout
    cli("save", "-o", str(tmp_path / "saved.tar"), "native:2")
    assert (tmp_path / "saved.tar").stat().st_size > 0
    assert "Untagged: native:2" in cli("rmi", "native:2").stdout

    assert cli("volume", "create", "nv").stdout == "nv\n"
    assert "nv" in cli("volume", "ls", "-q").stdout
    assert cli("volume", "rm", "nv").stdout == "nv\n"
    cli("network", "create", "nnet")
    assert "nnet" in cli("network", "ls").stdout

    cli(
        "run",
        "-d",
        "--name",
        "box",
        "--network",
        "nnet",
        "-p",
        "127.0.0.2:18088:80",
        "busybox:test",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/var/www",
    )
    assert cli("port", "box").stdout == "80/tcp -> 127.0.0.2:18088\n"
    (tmp_path / "in.txt").write_text("copied in\n")
    cli("cp", str(tmp_path / "in.txt"), "box:/tmp/")
    assert cli("exec", "box", "cat", "/tmp/in.txt").stdout == "copied in\n"
    cli("cp", "box:/var/www/index.html", str(tmp_path / "out.html"))
    assert (tmp_path / "out.html").read_text() == "hello from busybox httpd\n"
    cli("container", "rm", "-f", "box")
    cli("network", "rm", "nnet")

    if sh.which("docker-registry"):
        (tmp_path / "reg").mkdir()
        registry = Registry(tmp_path / "reg")
        try:
            name = f"{registry.address}/native/img:1"
            cli("tag", "native:1", name)
            assert "digest: sha256:" in cli("push", name).stdout
            cli("rmi", name)
            cli("pull", name)
            assert cli("run", "--rm", name).stdout == "built\n"
        finally:
            registry.stop()
