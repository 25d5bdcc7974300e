"""The host commands against a real sshd on loopback, through the generic driver."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import Cli
from tests.support.sshd import Sshd

pytestmark = pytest.mark.ssh


def create(cli: Cli, sshd: Sshd, name: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return cli("create", *sshd.generic_args(), "--no-provision", *extra, name, check=check)


def test_create_ls_status_inspect_ip(cli: Cli, sshd: Sshd) -> None:
    create(cli, sshd, "one")
    table = cli("ls").stdout.splitlines()
    assert table[0].split() == ["NAME", "ACTIVE", "DRIVER", "STATE", "URL", "DOCKER", "ERRORS"]
    assert table[1].split()[:4] == ["one", "-", "generic", "Running"]
    row = json.loads(cli("ls", "--format", "json").stdout)
    assert (row["Name"], row["DriverName"], row["State"]) == ("one", "generic", "running")
    assert cli("ls", "-q").stdout == "one\n"
    assert cli("ls", "-q", "--filter", "driver=generic", "--filter", "state=running").stdout == "one\n"
    assert cli("ls", "-q", "--filter", "name=other").stdout == ""
    assert cli("ls", "--filter", "colour=red", check=False).returncode == 2
    assert cli("status", "one").stdout == "Running\n"
    assert cli("ip", "one").stdout == "127.0.0.1\n"
    record = json.loads(cli("inspect", "one").stdout)
    host_key = Path(f"{sshd.host_key}.pub").read_text().split()[:2]
    assert record["ssh"]["host_keys"] == [" ".join(host_key)]
    assert record["driver"] == {
        "name": "generic",
        "settings": {
            "ip_address": "127.0.0.1",
            "ssh_user": "root",
            "ssh_port": sshd.port,
            "ssh_key": str(sshd.client_key),
        },
    }
    folder = cli.store / "machines" / "one"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("config.json", "ssh_key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600


def test_ssh_runs_commands_and_passes_exit_codes(cli: Cli, sshd: Sshd) -> None:
    create(cli, sshd, "one")
    assert cli("ssh", "one", "--", "echo", "hello world").stdout == "hello world\n"
    assert cli("ssh", "one", "echo oops >&2; exit 7", check=False).returncode == 7  # the remote shell parses it
    assert cli("ssh", "one", "--", "echo", "$((6*7))", "|", "tr", "4", "x").stdout == "x2\n"  # words joined, as ssh
    assert cli("ssh", "one", "--", "cat", input="typed\n").stdout == "typed\n"


def test_scp_both_ways(cli: Cli, sshd: Sshd, tmp_path: Path) -> None:
    create(cli, sshd, "one")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha")
    (tree / "sub" / "b.sh").write_text("#!/bin/sh\n")
    (tree / "sub" / "b.sh").chmod(0o755)
    remote = tmp_path / "remote"
    remote.mkdir()
    cli("scp", "-r", str(tree), f"one:{remote}")
    assert (remote / "tree" / "a.txt").read_text() == "alpha"
    assert (remote / "tree" / "sub" / "b.sh").stat().st_mode & 0o111
    back = tmp_path / "back"
    cli("scp", "-r", f"one:{remote}/tree", str(back))
    assert (back / "sub" / "b.sh").read_text() == "#!/bin/sh\n"
    cli("scp", f"one:{remote}/tree/a.txt", str(tmp_path / "single.txt"))
    assert (tmp_path / "single.txt").read_text() == "alpha"
    failed = cli("scp", f"one:{remote}/tree", str(tmp_path / "x"), check=False)
    assert failed.returncode == 1 and "use -r" in failed.stderr
    missing = cli("scp", "one:/nonexistent/file", str(tmp_path), check=False)
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_use_and_active_switch_between_machines(cli: Cli, sshd: Sshd) -> None:
    create(cli, sshd, "one")
    create(cli, sshd, "two")
    assert cli("active", check=False).returncode == 1
    cli("use", "one")
    assert cli("active").stdout == "one\n"
    docker_config = json.loads((Path(cli.env["DOCKER_CONFIG"]) / "config.json").read_text())
    assert docker_config["currentContext"] == "machine-one"
    cli("use", "two")
    assert cli("active").stdout == "two\n"
    assert cli("ls", "--format", "json").stdout.count('"Active": true') == 1
    assert cli("ip").stdout == "127.0.0.1\n"  # commands default to the active machine
    overridden = Cli(cli.store, dict(cli.env, MACHINE_NAME="one"))
    assert overridden("active").stdout == "one\n"
    cli("use", "--local")
    assert cli("active", check=False).returncode == 1
    assert "currentContext" not in json.loads((Path(cli.env["DOCKER_CONFIG"]) / "config.json").read_text())


def test_generic_cannot_stop_and_rm_forgets(cli: Cli, sshd: Sshd) -> None:
    create(cli, sshd, "one")
    stopped = cli("stop", "one", check=False)
    assert stopped.returncode == 1 and "not supported by the generic driver" in stopped.stderr
    assert cli("rm", "one", input="n\n", check=False).returncode == 1
    assert cli("ls", "-q").stdout == "one\n"
    assert "Successfully removed one" in cli("rm", "-y", "one").stdout
    assert cli("ls", "-q").stdout == ""
    assert cli("status", "one", check=False).returncode == 1


def test_changed_host_key_is_refused(cli: Cli, sshd: Sshd) -> None:
    create(cli, sshd, "one")
    sshd.new_host_key()
    refused = cli("ssh", "one", "--", "true", check=False)
    assert refused.returncode == 1
    assert "host key of one" in refused.stderr and "has changed" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_corrupt_config_only_breaks_that_machine(cli: Cli, sshd: Sshd) -> None:
    create(cli, sshd, "good")
    create(cli, sshd, "bad")
    config = cli.store / "machines" / "bad" / "config.json"
    config.write_text(config.read_text()[:40])
    table = cli("ls").stdout
    assert "good" in table and "Running" in table
    bad_row = next(line for line in table.splitlines() if line.startswith("bad"))
    assert "Error" in bad_row and "corrupt" in bad_row
    status = cli("status", "bad", check=False)
    assert status.returncode == 1 and "corrupt" in status.stderr and "Traceback" not in status.stderr
    cli("rm", "-f", "-y", "bad")
    assert cli("ls", "-q").stdout == "good\n"


def test_concurrent_creates_of_one_name(cli: Cli, sshd: Sshd) -> None:
    import sys

    command = [sys.executable, "-m", "machine", "create", *sshd.generic_args(), "--no-provision", "same"]
    procs = [
        subprocess.Popen(command, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(60), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 1]
    loser = next(err for rc, err in results if rc == 1)
    assert "already exists" in loser
    assert cli("ls", "-q").stdout == "same\n"
    assert json.loads(cli("inspect", "same").stdout)["state"] == "running"


def test_unreachable_host_gives_a_clear_error(cli: Cli, sshd: Sshd) -> None:
    from tests.support.sshd import free_port

    failed = cli(
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        "127.0.0.1",
        "--generic-ssh-port",
        str(free_port()),
        "--generic-ssh-key",
        str(sshd.client_key),
        "--no-provision",
        "nowhere",
        check=False,
        timeout=400,
    )
    assert failed.returncode == 1 and "cannot reach nowhere" in failed.stderr


def test_interactive_ssh_shell_has_a_pty(cli: Cli, sshd: Sshd) -> None:
    import sys

    import pexpect

    create(cli, sshd, "one")
    child = pexpect.spawn(sys.executable, ["-m", "machine", "ssh", "one"], env=cli.env, encoding="utf-8", timeout=20)
    try:
        child.sendline("tty; echo marker-$((6*7))")
        child.expect("/dev/pts/")
        child.expect("marker-42")
        child.sendline("exit 5")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 5
