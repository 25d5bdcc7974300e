"""`machine ls` against real sshds on loopback: a host that hangs costs the timeout only, formats, filters."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator

import pytest

from tests.support.cli import Cli
from tests.support.sshd import Sshd

pytestmark = pytest.mark.ssh


@pytest.fixture
def fleet(cli: Cli, sshd: Sshd, own_sshd: Callable[..., Sshd]) -> Iterator[Cli]:
    """Machines ok1, ok2 and ok10 on the session's sshd; `down` on an sshd since stopped (its port refuses);
    `hung` on an sshd replaced by a socket that accepts TCP and never answers (no SSH banner)."""
    for name in ("ok1", "ok2", "ok10"):
        cli("create", *sshd.generic_args(), "--no-provision", name)
    down, hung = own_sshd(), own_sshd()
    cli("create", *down.generic_args(), "--no-provision", "down")
    cli("create", *hung.generic_args(), "--no-provision", "hung")
    down.stop()
    hung.stop()
    with socket.create_server(("127.0.0.1", hung.port), backlog=16):
        yield cli


def test_a_hung_host_shows_timeout_and_the_others_their_state(fleet: Cli) -> None:
    listed = fleet("ls", "-t", "2", timeout=30)  # the subprocess timeout is only a safety net
    table = [line.split() for line in listed.stdout.splitlines()]
    assert table[0] == ["NAME", "ACTIVE", "DRIVER", "STATE", "URL", "DOCKER", "ERRORS"]
    assert [row[:4] for row in table[1:]] == [
        ["down", "-", "generic", "Stopped"],
        ["hung", "-", "generic", "Timeout"],
        ["ok1", "-", "generic", "Running"],
        ["ok2", "-", "generic", "Running"],
        ["ok10", "-", "generic", "Running"],
    ]
    assert " ".join(table[2][4:]) == "no answer within 2s (raise it with --timeout)"
    rows = {row["Name"]: row for row in map(json.loads, fleet("ls", "-t", "1", "--format", "json").stdout.splitlines())}
    assert rows["hung"]["State"] == "timeout" and rows["hung"]["ResponseTime"] == 1
    assert rows["ok1"]["State"] == "running" and rows["ok1"]["URL"].endswith("/machines/ok1/docker.sock")


def test_templates_print_the_fields_asked(fleet: Cli) -> None:
    names = fleet("ls", "-t", "1", "--filter", "name=^ok", "--format", "{{.Name}} {{.State}} {{.Active}}")
    assert names.stdout == "ok1 Running -\nok2 Running -\nok10 Running -\n"
    table = fleet("ls", "-t", "1", "--filter", "name=down", "--format", r"table {{.Name}}\t{{.DriverName}}")
    assert table.stdout == "NAME   DRIVER\ndown   generic\n"
    row = json.loads(fleet("ls", "-t", "1", "--filter", "name=ok2", "--format", "{{json .}}").stdout)
    assert (row["Name"], row["State"], row["Active"]) == ("ok2", "running", False)
    assert fleet("ls", "--format", "{{.Swarm}}", check=False).returncode == 2


def test_filters_by_name_regex_driver_and_state(fleet: Cli) -> None:
    assert fleet("ls", "-q", "--filter", "name=ok1").stdout == "ok1\nok10\n"  # a regular expression, searched
    assert fleet("ls", "-q", "--filter", "name=^ok1$", "--filter", "name=down").stdout == "down\nok1\n"
    assert fleet("ls", "-q", "--filter", "driver=GENERIC", "--filter", "name=^d").stdout == "down\n"
    assert fleet("ls", "-q", "--filter", "driver=libvirt").stdout == ""
    assert fleet("ls", "-q", "-t", "1", "--filter", "state=Stopped").stdout == "down\n"
    assert fleet("ls", "-q", "-t", "1", "--filter", "state=timeout").stdout == "hung\n"
    assert fleet("ls", "-q", "-t", "1", "--filter", "STATE=running").stdout == "ok1\nok2\nok10\n"


def test_a_host_that_accepts_and_stays_silent_is_an_error_once_the_driver_gives_up(fleet: Cli) -> None:
    shown = fleet("ls", "-t", "30", "--filter", "name=hung", "--format", "{{.State}}: {{.Error}}", timeout=60).stdout
    assert shown.startswith("Error: 127.0.0.1:") and "sent no SSH banner within 5s: the host or its sshd hangs" in shown
