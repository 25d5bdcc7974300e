"""The amazonec2 driver against moto's EC2 API, through the real `machine` CLI (marker aws; ssh where a
real sshd plays the instance).

The instance is played by a real OpenSSH sshd on loopback that takes its host key and authorized keys from
the user data the driver sent, as cloud-init does (the real cloud-init reads it in test_amazonec2_guest.py);
every SSH connection goes there through --amazonec2-ssh-address, never to the addresses moto makes up.
"""

from __future__ import annotations

import http.server
import json
import re
import stat
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers import DriverError, MachineDir, State
from drivers.amazonec2 import AmazonEC2Driver
from machine.agent import AgentLocation
from machine.lifecycle import Lifecycle
from machine.store import Store
from machine.transport.ssh import SSHError
from tests.cloud.conftest import Cloud
from tests.support import moto_ec2
from tests.support.sshd import SSHD, Sshd, adopt, free_port

pytestmark = pytest.mark.aws

Played = tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any]]


@pytest.fixture
def played(cloud: Cloud, tmp_path: Path) -> Iterator[Callable[..., Played]]:
    """Create a machine whose instance an sshd plays: (the create's result, the instance, our cloud-config)."""
    if not Path(SSHD).exists():
        pytest.skip("OpenSSH server is not installed (apt-get install openssh-server)")
    servers: list[Sshd] = []

    def create(name: str, *args: str, take_keys: bool = True) -> Played:
        (tmp_path / f"sshd-{name}").mkdir()
        server = Sshd(tmp_path / f"sshd-{name}")
        servers.append(server)
        process = cloud.popen(
            "create",
            *cloud.driver_args,
            "--amazonec2-ssh-address",
            f"127.0.0.1:{server.port}",
            "--amazonec2-ssh-user",
            "root",  # the loopback sshd has no user admin: cloud-init would create it
            "--no-provision",
            *args,
            name,
        )
        deadline = time.monotonic() + 120
        while (instance := cloud.instance(name)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                out, err = process.communicate()
                raise AssertionError(f"no instance of {name} was launched:\n{out}\n{err}")
            time.sleep(0.2)
        config = moto_ec2.machine_config(moto_ec2.user_data(cloud.ec2, instance["InstanceId"]))
        if take_keys:
            adopt(server, config["ssh_keys"]["ed25519_private"], config["users"][0]["ssh_authorized_keys"])
        server.start()
        out, err = process.communicate(timeout=300)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err), instance, config

    try:
        yield create
    finally:
        for server in servers:
            server.stop()


def ingress(cloud: Cloud, group_id: str) -> set[tuple[str, int, int, str]]:
    group = cloud.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return {
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], network.get("CidrIp") or network.get("CidrIpv6"))
        for rule in group["IpPermissions"]
        for network in rule.get("IpRanges", []) + rule.get("Ipv6Ranges", [])
    }


@pytest.mark.ssh
def test_create_ls_inspect_stop_start_rm(cloud: Cloud, played: Callable[..., Played]) -> None:
    name = f"ec2-{uuid.uuid4().hex[:6]}"
    created, instance, config = played(
        name,
        "--amazonec2-instance-type",
        "t3.small",
        "--amazonec2-root-size",
        "20",
        "--amazonec2-volume-type",
        "gp2",
        "--amazonec2-ssh-cidr",
        "203.0.113.0/24",
        "--amazonec2-ssh-cidr",
        "2001:db8::/64",
        "--amazonec2-open-port",
        "8080",
        "--amazonec2-open-port",
        "60000-60010/udp",
        "--amazonec2-tags",
        "team=web",
        "--amazonec2-tags",
        "env=test",
    )
    assert created.returncode == 0, created.stderr
    assert (
        "Traceback" not in created.stderr and "Using ami-0deb12a0new (debian-12-amd64-20250601-2100)" in created.stderr
    )
    described = cloud.ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert described["ImageId"] == moto_ec2.NEWEST_DEBIAN["x86_64"]  # not the impostor's newer "debian-12" image
    assert described["InstanceType"] == "t3.small" and described["KeyName"] == f"machine-{name}"
    assert described["MetadataOptions"]["HttpTokens"] == "required"
    tags = {t["Key"]: t["Value"] for t in described["Tags"]}
    assert tags["team"] == "web" and tags["env"] == "test" and tags["Name"] == f"machine-{name}"
    volume = cloud.ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}]
    )
    assert [(v["Size"], v["VolumeType"]) for v in volume["Volumes"]] == [(20, "gp2")]
    group = described["NetworkInterfaces"][0]["Groups"]
    assert [g["GroupName"] for g in group] == [f"machine-{name}"]
    assert ingress(cloud, group[0]["GroupId"]) == {  # SSH from the CIDRs given; nothing else but the open ports
        ("tcp", 22, 22, "203.0.113.0/24"),
        ("tcp", 22, 22, "2001:db8::/64"),
        ("tcp", 8080, 8080, "0.0.0.0/0"),
        ("tcp", 8080, 8080, "::/0"),
        ("udp", 60000, 60010, "0.0.0.0/0"),
        ("udp", 60000, 60010, "::/0"),
    }
    pair = cloud.ec2.describe_key_pairs(KeyNames=[f"machine-{name}"], IncludePublicKey=True)["KeyPairs"][0]
    machine_folder = cloud.cli.store / "machines" / name
    public_key = (machine_folder / "ssh_key.pub").read_text().split()[:2]
    assert pair["PublicKey"].split()[:2] == public_key and pair["KeyType"] == "ed25519"
    assert config["users"][0]["ssh_authorized_keys"][0].split()[:2] == public_key
    assert config["hostname"] == name

    info = json.loads(cloud.cli("inspect", name).stdout)
    assert info["ssh"]["host_keys"] == [config["ssh_keys"]["ed25519_public"]]  # pinned before the first connection
    settings = info["driver"]["settings"]
    assert settings["instance_id"] == instance["InstanceId"] and settings["region"] == "us-east-1"
    assert settings["ami"] == moto_ec2.NEWEST_DEBIAN["x86_64"] and settings["public_ip"] == described["PublicIpAddress"]
    assert stat.S_IMODE((machine_folder / "config.json").stat().st_mode) == 0o600
    assert cloud.cli("ip", name).stdout.strip() == described["PublicIpAddress"]  # shown, never connected to
    listed = json.loads(cloud.cli("ls", "--format", "json").stdout)
    assert (listed["Name"], listed["DriverName"], listed["State"]) == (name, "amazonec2", "running")
    assert cloud.cli("ssh", name, "--", "echo", "through the pinned key").stdout == "through the pinned key\n"

    cloud.cli("stop", name)
    assert cloud.cli("status", name).stdout == "Stopped\n"
    assert json.loads(cloud.cli("inspect", name).stdout)["driver"]["settings"]["public_ip"] == ""
    cloud.cli("start", name)
    assert cloud.cli("status", name).stdout == "Running\n"
    restarted = json.loads(cloud.cli("inspect", name).stdout)
    new_ip = cloud.ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert restarted["driver"]["settings"]["public_ip"] == new_ip["PublicIpAddress"] != described["PublicIpAddress"]
    assert restarted["ssh"]["host"] == "127.0.0.1"  # --amazonec2-ssh-address still wins
    cloud.cli("restart", name)  # stop and start: another public address again
    after_restart = json.loads(cloud.cli("inspect", name).stdout)["driver"]["settings"]["public_ip"]
    assert after_restart and after_restart != restarted["driver"]["settings"]["public_ip"]
    cloud.cli("kill", name)
    assert cloud.cli("status", name).stdout == "Stopped\n"

    removed = cloud.cli("rm", "-y", name)
    assert f"Successfully removed {name}" in removed.stdout
    assert cloud.leftovers(name) == [] and not machine_folder.exists()
    gone = cloud.ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert gone["State"]["Name"] == "terminated"


@pytest.mark.ssh
def test_credentials_given_as_options_stay_out_of_the_config(
    cloud: Cloud, played: Callable[..., Played], tmp_path: Path
) -> None:
    name = f"keys-{uuid.uuid4().hex[:6]}"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        del cloud.cli.env[key]  # only the options give credentials
    user_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2xVhBmTJm0X1Tk6nKQAF2Yz7oYl4ReP9xS2bOBkXGM user@laptop"
    cloud.ec2.import_key_pair(KeyName=f"own-{name}", PublicKeyMaterial=user_key.encode())
    vpc = cloud.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = cloud.ec2.create_security_group(GroupName=f"own-{name}", Description="theirs", VpcId=vpc)["GroupId"]
    created, instance, config = played(
        name,
        "--amazonec2-access-key",
        "AKIDEXAMPLE",
        "--amazonec2-secret-key",
        "very-secret-key",
        "--amazonec2-keypair-name",
        f"own-{name}",
        "--amazonec2-security-group",
        f"own-{name}",
    )
    assert created.returncode == 0, created.stderr
    assert instance["KeyName"] == f"own-{name}"
    assert [g["GroupId"] for g in instance["NetworkInterfaces"][0]["Groups"]] == [group]
    folder = cloud.cli.store / "machines" / name
    assert "very-secret-key" not in cloud.cli("inspect", name).stdout
    assert "very-secret-key" not in (folder / "config.json").read_text()
    assert stat.S_IMODE((folder / "aws-credentials").stat().st_mode) == 0o600
    assert config["users"][0]["ssh_authorized_keys"][1] == user_key  # the user's key pair works too
    assert cloud.cli("status", name).stdout == "Running\n"  # later commands use the machine's credentials
    cloud.cli("rm", "-y", name)
    assert cloud.leftovers(name) == []
    assert cloud.ec2.describe_key_pairs(KeyNames=[f"own-{name}"])["KeyPairs"]  # not ours: kept
    assert cloud.ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]


@pytest.mark.ssh
def test_spot_private_zone_and_instance_profile(cloud: Cloud, played: Callable[..., Played]) -> None:
    name = f"spot-{uuid.uuid4().hex[:6]}"
    iam = moto_ec2.client(cloud.endpoint, service="iam")
    profile = iam.create_instance_profile(InstanceProfileName=f"role-{name}")["InstanceProfile"]
    created, instance, _ = played(
        name,
        "--amazonec2-request-spot-instance",
        "--amazonec2-spot-price",
        "0.05",
        "--amazonec2-private-address-only",
        "--amazonec2-zone",
        "c",
        "--amazonec2-iam-instance-profile",
        f"role-{name}",
    )
    assert created.returncode == 0, created.stderr
    assert instance["InstanceLifecycle"] == "spot" and instance["Placement"]["AvailabilityZone"] == "us-east-1c"
    assert instance["IamInstanceProfile"]["Arn"] == profile["Arn"]
    assert "PublicIpAddress" not in instance
    assert cloud.cli("ip", name).stdout.strip() == instance["PrivateIpAddress"]
    stopped = cloud.cli("stop", name, check=False)
    assert stopped.returncode == 1 and "a one-time spot instance cannot be stopped, only removed" in stopped.stderr
    assert cloud.cli("status", name).stdout == "Running\n"
    cloud.cli("rm", "-y", name)
    assert cloud.leftovers(name) == []


def test_a_refused_launch_rolls_back_the_group_and_key_pair(cloud: Cloud) -> None:
    name = f"refused-{uuid.uuid4().hex[:6]}"
    result = cloud.cli(
        "create",
        *cloud.driver_args,
        "--amazonec2-instance-type",
        "t4g.micro",
        "--amazonec2-iam-instance-profile",
        "no-such-profile",
        name,
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Using ami-0deb12arm64" in result.stderr  # Debian's arm64 image for a Graviton type
    assert "Creating security group" in result.stderr  # it got that far
    assert "creating the instance: Instance profile no-such-profile not found" in result.stderr
    assert cloud.leftovers(name) == [] and not (cloud.cli.store / "machines" / name).exists()


@pytest.mark.ssh
def test_an_ssh_server_with_another_host_key_is_refused_and_rolled_back(
    cloud: Cloud, played: Callable[..., Played]
) -> None:
    name = f"mitm-{uuid.uuid4().hex[:6]}"
    created, instance, _ = played(name, take_keys=False)  # the sshd keeps a host key of its own
    assert created.returncode == 1 and "Traceback" not in created.stderr
    assert "has changed: refusing to connect" in created.stderr
    assert "removing what was made" in created.stderr
    assert cloud.leftovers(name) == [] and not (cloud.cli.store / "machines" / name).exists()
    terminated = cloud.ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"]
    assert terminated[0]["State"]["Name"] == "terminated"


def test_ssh_never_answering_rolls_back(cloud: Cloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In process, with a driver that waits 3 s for SSH instead of 600, to a port nothing listens on."""

    class Impatient(AmazonEC2Driver):
        ssh_timeout = 3.0

    for key, value in cloud.cli.env.items():
        monkeypatch.setenv(key, value)
    name = f"silent-{uuid.uuid4().hex[:6]}"
    params = {"amazonec2_endpoint": cloud.endpoint, "amazonec2_ssh_address": f"127.0.0.1:{free_port()}"}
    settings = Impatient.settings_from_options(params)
    said: list[str] = []
    life = Lifecycle(Store(tmp_path / "in-process"), said.append)
    with pytest.raises(SSHError, match="gave up after 3s"):
        life.create(name, Impatient, settings, AgentLocation())
    assert "Creating machine..." in said and f"Creating {name} failed: removing what was made" in said
    assert cloud.leftovers(name) == [] and not life.store.exists(name)


@pytest.mark.parametrize(
    ("args", "env", "error"),
    [
        ([], {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "Unable to locate credentials; give --amazonec2-"),
        (["--amazonec2-ami", "ami-12345678"], {}, r"The image id '\[ami-12345678\]' does not exist"),
        (["--amazonec2-instance-type", "t9.huge"], {}, r"do not exist: \[t9.huge\].*--amazonec2-instance-type"),
        (["--amazonec2-vpc-id", "vpc-00000000"], {}, "has no subnet in any zone offering t3.micro"),
        (["--amazonec2-security-group", "no-such-group"], {}, "security group no-such-group does not exist"),
        (["--amazonec2-keypair-name", "nobodys"], {}, "key pair nobodys does not exist in us-east-1"),
    ],
)
def test_bad_input_is_a_clear_error_and_leaves_nothing(
    cloud: Cloud, args: list[str], env: dict[str, str], error: str
) -> None:
    cloud.cli.env.update(env)
    result = cloud.cli("create", *cloud.driver_args, *args, "bad", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.search(error, result.stderr), result.stderr
    assert not (cloud.cli.store / "machines" / "bad").exists() and cloud.leftovers("bad") == []


def test_unknown_region_and_unreachable_endpoint(cloud: Cloud) -> None:
    result = cloud.cli("create", "-d", "amazonec2", "--amazonec2-region", "mars-north-1", "bad", check=False)
    assert result.returncode == 1 and "unknown region 'mars-north-1' (known: " in result.stderr
    assert "eu-west-1" in result.stderr and "Traceback" not in result.stderr
    closed = f"http://127.0.0.1:{free_port()}"
    result = cloud.cli("create", "-d", "amazonec2", "--amazonec2-endpoint", closed, "bad", check=False, timeout=120)
    assert result.returncode == 1 and f"cannot reach EC2 ({closed})" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (cloud.cli.store / "machines" / "bad").exists()


class Throttling(http.server.BaseHTTPRequestHandler):
    """Answers the first `throttle` requests as an overloaded EC2 does, then passes them on to moto."""

    throttle = 0
    seen: list[str]
    target = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(body.decode())
        if len(self.seen) <= self.throttle:
            answer = (
                b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
                b"</Message></Error></Errors><RequestID>1</RequestID></Response>"
            )
            status, kind = 503, "text/xml"
        else:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            with urllib.request.urlopen(urllib.request.Request(self.target, body, headers)) as reply:
                answer, status, kind = reply.read(), reply.status, reply.headers["Content-Type"]
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("throttle", "attempts"), [(2, 3), (99, 5)])
def test_throttled_calls_are_retried_a_bounded_number_of_times(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, throttle: int, attempts: int
) -> None:
    image = moto_ec2.NEWEST_DEBIAN["x86_64"]
    launched = cloud.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    seen: list[str] = []
    handler = type("Handler", (Throttling,), {"throttle": throttle, "seen": seen, "target": cloud.endpoint})
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    for key, value in cloud.cli.env.items():
        monkeypatch.setenv(key, value)
    try:
        params = {"amazonec2_endpoint": f"http://127.0.0.1:{proxy.server_address[1]}"}
        settings = AmazonEC2Driver.settings_from_options(params)
        settings.instance_id = launched  # type: ignore[attr-defined]
        driver = AmazonEC2Driver(MachineDir("t", tmp_path / "machine", tmp_path / "cache"), settings)
        if throttle < attempts:
            assert driver.state() is State.RUNNING
        else:
            with pytest.raises(DriverError, match="Request limit exceeded.*kept throttling"):
                driver.state()
        assert len(seen) == attempts and all("Action=DescribeInstances" in body for body in seen)
    finally:
        proxy.shutdown()
        proxy.server_close()
        cloud.ec2.terminate_instances(InstanceIds=[launched])
