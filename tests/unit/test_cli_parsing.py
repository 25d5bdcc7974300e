"""What the commands parse before anything is reached: -p specs, NAME:path, -d in any spelling, ls filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from machine.cli import cli
from machine.cli.containers import port_bindings
from machine.cli.hosts import _duration, _natural, driver_in
from machine.cli.ssh import split_location


@pytest.mark.parametrize(
    ("spec", "binding"),
    [
        ("80", {"80/tcp": None}),
        ("8080:80", {"80/tcp": 8080}),
        (":80", {"80/tcp": None}),
        ("127.0.0.1:8080:80/udp", {"80/udp": ("127.0.0.1", 8080)}),
        ("127.0.0.1::53/udp", {"53/udp": ("127.0.0.1", None)}),
    ],
)
def test_port_bindings(spec: str, binding: dict) -> None:
    assert port_bindings((spec,)) == binding


@pytest.mark.parametrize(
    ("arg", "split"),
    [
        ("dev:/etc/hosts", ("dev", "/etc/hosts")),
        ("dev:", ("dev", ".")),
        ("./a:b", (None, "./a:b")),
        ("/tmp/x", (None, "/tmp/x")),
        ("C:\\Users\\me", (None, "C:\\Users\\me")),
    ],
)
def test_split_location(arg: str, split: tuple[str | None, str]) -> None:
    assert split_location(arg) == split


def test_driver_in_every_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MACHINE_DRIVER", raising=False)
    assert driver_in(["-d", "libvirt", "x"]) == driver_in(["--driver=libvirt"]) == driver_in(["-dlibvirt"]) == "libvirt"
    assert driver_in(["x"]) is None
    monkeypatch.setenv("MACHINE_DRIVER", "generic")
    assert driver_in(["x"]) == "generic"


def test_ls_refuses_an_unknown_filter_and_lists_nothing_in_an_empty_store(tmp_path: Path) -> None:
    env = {"MACHINE_STORAGE_PATH": str(tmp_path)}
    bad = CliRunner().invoke(cli, ["ls", "--filter", "colour=red"], env=env)
    assert bad.exit_code == 2 and "use name=REGEX, driver=DRIVER or state=STATE" in bad.output
    listed = CliRunner().invoke(cli, ["ls"], env=env)
    assert listed.exit_code == 0 and listed.output.split() == [
        "NAME",
        "ACTIVE",
        "DRIVER",
        "STATE",
        "URL",
        "DOCKER",
        "ERRORS",
    ]


def test_create_without_a_driver_lists_the_installed_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["create", "dev"], env={"MACHINE_STORAGE_PATH": str(tmp_path), "MACHINE_DRIVER": ""}
    )
    assert (
        result.exit_code == 2
        and "choose a driver with -d DRIVER (installed: amazonec2, generic, libvirt" in result.output
    )


def test_an_unknown_machine_is_one_line_of_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "nope"], env={"MACHINE_STORAGE_PATH": str(tmp_path)})
    assert result.exit_code == 1 and result.output == "Error: machine 'nope' does not exist: see `machine ls`\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filter", "swarm=s"], "no Docker Swarm"),
        (["--filter", "label=a=b"], "no engine labels"),
        (["--filter", "name=("], "not a regular expression"),
        (["--filter", "state=runing"], "states are running, stopped"),
        (["--format", "{{.Swarm}}"], "no Docker Swarm"),
        (["--format", "{{.Colour}}"], "unknown field 'Colour'"),
        (["-t", "0"], "-t"),
    ],
)
def test_ls_refuses_what_it_cannot_do(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["ls", *args], env={"MACHINE_STORAGE_PATH": str(tmp_path)})
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0s"), (0.0123, "12ms"), (1.5, "1.5s"), (2, "2s"), (123.25, "2m3.25s"), (3600, "1h0m0s")]
)
def test_ls_response_time_prints_as_a_go_duration(seconds: float, shown: str) -> None:
    assert _duration(seconds) == shown


def test_ls_sorts_names_naturally() -> None:
    assert sorted(["m10", "M2", "m1", "a"], key=_natural) == ["a", "m1", "M2", "m10"]
