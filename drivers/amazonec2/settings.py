"""The amazonec2 driver's settings: the `--amazonec2-...` options (docker-machine's names where they still
make sense) and what the driver records while it works, with the parsing of the list-valued options."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import DriverError, Settings, recorded, setting

DEFAULT_REGION = "us-east-1"
_PORT = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?(?:/(tcp|udp))?")
_SPOT_PRICE = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass
class AmazonEC2Settings(Settings):
    access_key: str = setting(
        "", "AWS access key id (default: boto3's chain: environment, AWS_PROFILE, ~/.aws files, instance role)"
    )
    secret_key: str = setting("", "AWS secret access key (kept in the machine's folder, not in its config)")
    session_token: str = setting("", "AWS session token of temporary credentials")
    region: str = setting("", f"region (default: the AWS configuration's, else {DEFAULT_REGION})")
    zone: str = setting("", "availability zone, as 'a' or 'eu-west-1a' (default: one offering the instance type)")
    ami: str = setting("", "AMI id (default: the newest official Debian 12 image for the instance type's CPU)")
    instance_type: str = setting("t3.micro", "instance type")
    root_size: int = setting(16, "root disk size in GB")
    volume_type: str = setting("gp3", "root volume type", choices=("gp3", "gp2", "standard"))
    vpc_id: str = setting("", "VPC id (default: the region's default VPC, or the subnet's)")
    subnet_id: str = setting("", "subnet id (default: the default VPC's default subnet in the zone)")
    security_group: str = setting(
        "", "existing security group name or id, used as it is (default: a group machine-NAME with only SSH open)"
    )
    open_port: tuple[str, ...] = setting(
        (),
        "a port to open to everyone in the machine's group: 8080, 8443/tcp, 60000-60010/udp (repeatable)",
        metavar="PORT[/PROTO]",
    )
    ssh_cidr: tuple[str, ...] = setting(
        ("0.0.0.0/0",), "who may reach SSH (port 22), a CIDR such as 203.0.113.7/32 (repeatable)", metavar="CIDR"
    )
    keypair_name: str = setting(
        "", "existing key pair to put on the instance too (default: import the machine's generated key)"
    )
    ssh_user: str = setting("admin", "SSH user cloud-init creates (admin is Debian's)")
    tags: tuple[str, ...] = setting((), "an extra tag, team=web (repeatable)", metavar="KEY=VALUE")
    iam_instance_profile: str = setting("", "IAM instance profile name or ARN")
    private_address_only: bool = setting(False, "no public address: reach the instance on its private one")
    use_private_address: bool = setting(False, "connect to the private address")
    request_spot_instance: bool = setting(False, "a one-time spot instance: cheaper, cannot be stopped")
    spot_price: str = setting("", "maximum spot price in USD per hour (default: the on-demand price)")
    userdata: str = setting("", "file of user data cloud-init runs too (merged with the machine's)", metavar="PATH")
    endpoint: str = setting("", "EC2 endpoint URL (an EC2-compatible service)", metavar="URL")
    ssh_address: str = setting(
        "",
        "connect to HOST[:PORT] instead of the instance's address (a bastion's forward, a VPN)",
        metavar="HOST[:PORT]",
    )
    # recorded by the driver
    profile: str = recorded("")  # AWS_PROFILE at create: later commands use the same account
    token: str = recorded("")  # tags everything this machine made, so `rm` finds it even if create was cut short
    instance_id: str = recorded("")
    security_group_id: str = recorded("")
    key_pair: str = recorded("")
    public_ip: str = recorded("")
    private_ip: str = recorded("")

    def validate(self) -> None:
        if self.root_size < 8:
            raise DriverError(f"--amazonec2-root-size {self.root_size}: Debian's images need at least 8 GB")
        ports(self.open_port)
        cidrs(self.ssh_cidr)
        tags(self.tags)
        ssh_address(self.ssh_address)
        if self.spot_price and not self.request_spot_instance:
            raise DriverError("--amazonec2-spot-price needs --amazonec2-request-spot-instance")
        if self.spot_price and not _SPOT_PRICE.fullmatch(self.spot_price):
            raise DriverError(f"--amazonec2-spot-price {self.spot_price!r}: give USD per hour, such as 0.02")
        if bool(self.access_key) != bool(self.secret_key):
            raise DriverError("give both --amazonec2-access-key and --amazonec2-secret-key, or neither")
        if self.session_token and not self.access_key:
            raise DriverError("--amazonec2-session-token goes with --amazonec2-access-key and --amazonec2-secret-key")
        if self.security_group and self.open_port:
            raise DriverError(
                "--amazonec2-open-port opens ports in the machine's own group: with --amazonec2-security-group, "
                "add the rules to that group yourself"
            )
        if self.userdata and not Path(self.userdata).expanduser().is_file():
            raise DriverError(f"--amazonec2-userdata {self.userdata}: no such file")
        if self.endpoint and not re.match(r"^https?://", self.endpoint):
            raise DriverError(f"--amazonec2-endpoint {self.endpoint!r}: give a URL such as https://ec2.example.com")


def ports(value: Iterable[str]) -> list[tuple[str, int, int]]:
    """`--amazonec2-open-port` as (protocol, first port, last port)."""
    parsed = []
    for item in _items(value):
        found = _PORT.fullmatch(item)
        first = int(found.group(1)) if found else 0
        last = int(found.group(2) or first) if found else 0
        if not found or not 0 < first <= last < 65536:
            raise DriverError(f"--amazonec2-open-port {item!r}: give PORT, PORT/udp or FIRST-LAST/tcp (1-65535)")
        parsed.append((found.group(3) or "tcp", first, last))
    return parsed


def cidrs(value: Iterable[str]) -> list[str]:
    """`--amazonec2-ssh-cidr` as a list of networks (IPv4 or IPv6)."""
    networks = []
    for item in _items(value):
        try:
            networks.append(str(ipaddress.ip_network(item)))
        except ValueError as e:
            raise DriverError(f"--amazonec2-ssh-cidr {item!r}: {e} (e.g. 203.0.113.7/32)") from None
    if not networks:
        raise DriverError("--amazonec2-ssh-cidr is empty: give who may reach SSH, e.g. 203.0.113.7/32")
    return networks


def tags(value: Iterable[str]) -> dict[str, str]:
    """`--amazonec2-tags` as a dict."""
    parsed = {}
    for item in _items(value):
        key, sep, tag_value = item.partition("=")
        if not sep or not key.strip():
            raise DriverError(f"--amazonec2-tags {item!r}: give KEY=VALUE")
        if key.strip().lower().startswith("aws:"):
            raise DriverError(f"--amazonec2-tags {item!r}: tag keys starting with aws: are AWS's own")
        parsed[key.strip()] = tag_value.strip()
    return parsed


def ssh_address(value: str) -> tuple[str, int] | None:
    """`--amazonec2-ssh-address` HOST[:PORT] (IPv6 as [ADDR]:PORT) as (host, port)."""
    if not value:
        return None
    found = re.match(r"^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+))(?::([0-9]{1,5}))?$", value)
    port = int(found.group(3) or 22) if found else 0
    if not found or not 0 < port < 65536:
        raise DriverError(f"--amazonec2-ssh-address {value!r}: give HOST or HOST:PORT ([ADDR]:PORT for IPv6)")
    return found.group(1) or found.group(2), port


def _items(values: Iterable[str]) -> list[str]:
    """The values of a repeatable option; each may also hold several, comma-separated."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]
