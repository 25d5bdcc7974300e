"""The amazonec2 driver's options: names, defaults, the list-valued ones (comma-separated until the driver
API has repeatable options) and the values refused before anything is asked of AWS."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from drivers import DriverError
from drivers.amazonec2 import AmazonEC2Driver, AmazonEC2Settings
from drivers.amazonec2.settings import cidrs, ports, ssh_address, tags


def parse(args: list[str]) -> AmazonEC2Settings:
    seen: dict = {}
    command = click.Command("create", params=AmazonEC2Driver.options(), callback=lambda **kw: seen.update(kw))
    result = CliRunner().invoke(command, args, standalone_mode=False, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    settings = AmazonEC2Driver.settings_from_options(seen)
    assert isinstance(settings, AmazonEC2Settings)
    return settings


def test_docker_machine_option_names_and_safe_defaults() -> None:
    options = {o.opts[0]: o for o in AmazonEC2Driver.options()}
    for name in (
        "access-key",
        "secret-key",
        "session-token",
        "region",
        "zone",
        "ami",
        "instance-type",
        "root-size",
        "volume-type",
        "vpc-id",
        "subnet-id",
        "security-group",
        "open-port",
        "ssh-cidr",
        "keypair-name",
        "ssh-user",
        "tags",
        "iam-instance-profile",
        "private-address-only",
        "use-private-address",
        "request-spot-instance",
        "spot-price",
        "userdata",
        "endpoint",
        "ssh-address",
    ):
        assert f"--amazonec2-{name}" in options
    assert not any(recorded in options for recorded in ("--amazonec2-instance-id", "--amazonec2-token"))
    settings = parse([])
    assert (settings.instance_type, settings.root_size, settings.volume_type) == ("t3.micro", 16, "gp3")
    assert (settings.ssh_user, settings.ssh_cidr, settings.open_port) == ("admin", ("0.0.0.0/0",), ())


def test_list_values_are_parsed() -> None:
    assert ports(["8080, 53/udp", "60000-60010/tcp"]) == [("tcp", 8080, 8080), ("udp", 53, 53), ("tcp", 60000, 60010)]
    assert cidrs(["203.0.113.7/32", "2001:db8::/64"]) == ["203.0.113.7/32", "2001:db8::/64"]
    assert tags(["team=web, env = dev", "empty="]) == {"team": "web", "env": "dev", "empty": ""}
    assert ssh_address("127.0.0.1:2222") == ("127.0.0.1", 2222)
    assert ssh_address("bastion.example.com") == ("bastion.example.com", 22)
    assert ssh_address("[2001:db8::1]:22") == ("2001:db8::1", 22)
    assert ssh_address("") is None


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--amazonec2-root-size", "4"], "at least 8 GB"),
        (["--amazonec2-open-port", "http"], "give PORT, PORT/udp or FIRST-LAST/tcp"),
        (["--amazonec2-open-port", "70000"], "1-65535"),
        (["--amazonec2-open-port", "90-80"], "FIRST-LAST"),
        (["--amazonec2-ssh-cidr", "203.0.113.7/24"], "has host bits set"),
        (["--amazonec2-ssh-cidr", ","], "is empty"),
        (["--amazonec2-tags", "team"], "KEY=VALUE"),
        (["--amazonec2-tags", "aws:owner=me"], "AWS's own"),
        (["--amazonec2-ssh-address", "host:99999"], "HOST:PORT"),
        (["--amazonec2-spot-price", "0.1"], "needs --amazonec2-request-spot-instance"),
        (["--amazonec2-request-spot-instance", "--amazonec2-spot-price", "cheap"], "USD per hour"),
        (["--amazonec2-access-key", "AKIA"], "both --amazonec2-access-key and --amazonec2-secret-key"),
        (["--amazonec2-session-token", "t"], "goes with --amazonec2-access-key"),
        (["--amazonec2-security-group", "web", "--amazonec2-open-port", "80"], "add the rules to that group"),
        (["--amazonec2-userdata", "/nonexistent/user-data"], "no such file"),
        (["--amazonec2-endpoint", "localhost:5000"], "give a URL"),
    ],
)
def test_values_that_cannot_work_are_refused(args: list[str], error: str) -> None:
    with pytest.raises(DriverError, match=error):
        parse(args)


def test_bools_are_flags_and_lists_repeat() -> None:
    settings = parse(
        [
            "--amazonec2-request-spot-instance",
            "--amazonec2-private-address-only",
            "--amazonec2-open-port",
            "80",
            "--amazonec2-open-port",
            "443",
        ]
    )
    assert settings.request_spot_instance and settings.private_address_only and not settings.use_private_address
    assert settings.open_port == ("80", "443")
    assert type(settings).from_config(settings.to_config()) == settings  # lists in config.json, tuples again
