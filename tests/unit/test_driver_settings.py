"""Driver settings declared once: the options they make, validation of what users give, and what config.json
holds (read back with a clear error for a wrong type)."""

from __future__ import annotations

from dataclasses import dataclass

import click
import pytest
from click.testing import CliRunner

from drivers import LOCAL_VM_CPUS, DriverError, Settings, setting
from drivers.generic import GenericDriver, GenericSettings
from drivers.libvirt import LibvirtDriver, LibvirtSettings


def parse(driver: type, args: list[str]) -> dict:
    """The parameters click gives for `args` against the driver's options."""
    seen: dict = {}
    command = click.Command("create", params=driver.options(), callback=lambda **kw: seen.update(kw))
    result = CliRunner().invoke(command, args, standalone_mode=False, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen


def test_options_are_prefixed_with_defaults_help_and_choices() -> None:
    options = {o.opts[0]: o for o in LibvirtDriver.options()}
    assert set(options) == {
        "--libvirt-uri",
        "--libvirt-cpus",
        "--libvirt-memory",
        "--libvirt-disk-size",
        "--libvirt-network",
        "--libvirt-accel",
        "--libvirt-image",
        "--libvirt-cloud-image",
    }
    assert options["--libvirt-cpus"].default == LOCAL_VM_CPUS and options["--libvirt-cpus"].type is click.INT
    assert list(options["--libvirt-accel"].type.choices) == ["auto", "kvm", "tcg"]  # type: ignore[attr-defined]
    assert "recorded" not in str(options) and "--libvirt-ip" not in options  # what the driver records is no option
    assert options["--libvirt-cloud-image"].show_default is False  # an empty default is not shown


def test_settings_from_options_keep_only_this_drivers_and_validate() -> None:
    params = parse(GenericDriver, ["--generic-ip-address", "192.0.2.7", "--generic-ssh-port", "2222"])
    settings = GenericDriver.settings_from_options({**params, "libvirt_cpus": 4, "driver": "generic"})
    assert settings == GenericSettings(ip_address="192.0.2.7", ssh_user="root", ssh_port=2222, ssh_key="")
    with pytest.raises(DriverError, match="needs the host's address: --generic-ip-address"):
        GenericDriver.settings_from_options(parse(GenericDriver, []))
    with pytest.raises(DriverError, match="not a TCP port"):
        GenericDriver.settings_from_options(
            parse(GenericDriver, ["--generic-ip-address", "h", "--generic-ssh-port", "70000"])
        )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--libvirt-cpus", "0"], "at least one CPU"),
        (["--libvirt-memory", "64"], "at least 128 MiB"),
        (["--libvirt-disk-size", "lots"], "give a size such as 8G"),
    ],
)
def test_libvirt_refuses_values_that_cannot_work(args: list[str], error: str) -> None:
    with pytest.raises(DriverError, match=error):
        LibvirtDriver.settings_from_options(parse(LibvirtDriver, args))


def test_config_round_trip_and_wrong_types() -> None:
    settings = LibvirtSettings(cpus=2, disk_size="20G", ip="192.168.123.9")
    assert LibvirtSettings.from_config(settings.to_config()) == settings
    assert LibvirtSettings.from_config({"cpus": 3, "unknown": 1}) == LibvirtSettings(cpus=3)
    with pytest.raises(DriverError, match="cpus='2' is not a int"):
        LibvirtSettings.from_config({"cpus": "2"})


@dataclass
class ListsAndFlags(Settings):
    port: tuple[str, ...] = setting(("22",), "a port (repeatable)")
    fast: bool = setting(False, "go fast")


def test_a_tuple_setting_repeats_and_a_bool_setting_is_a_flag() -> None:
    options = {o.opts[0]: o for o in ListsAndFlags.options("x")}
    assert options["--x-port"].multiple and options["--x-fast"].is_flag
    command = click.Command("c", params=list(options.values()), callback=lambda **kw: kw)
    params = command.main(["--x-port", "80", "--x-port", "443", "--x-fast"], standalone_mode=False)
    settings = ListsAndFlags.from_options("x", params)
    assert settings == ListsAndFlags(port=("80", "443"), fast=True)
    assert ListsAndFlags.from_options("x", command.main([], standalone_mode=False)) == ListsAndFlags()
    assert ListsAndFlags.from_config({"port": ["1", "2"]}).port == ("1", "2")  # config.json holds a list
    with pytest.raises(DriverError, match="port=\\[1\\] is not a list of strings"):
        ListsAndFlags.from_config({"port": [1]})
