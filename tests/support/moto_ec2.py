"""moto's EC2 API on loopback, the only stand-in for AWS: a server in its own process (so the AMIs it lists
are this module's: Debian's official images as AWS publishes them, and an impostor of the same name from
another account), the environment that points boto3 at it with dummy credentials and none of the user's
AWS configuration, and a client for the test's own checks."""

from __future__ import annotations

import base64
import contextlib
import email
import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEBIAN_OWNER = "136693071363"
IMPOSTOR_OWNER = "210987654321"
_AMI = {
    "description": "Debian 12 (stand-in)",
    "public": True,
    "virtualization_type": "hvm",
    "state": "available",
    "platform": None,
    "image_type": "machine",
    "hypervisor": "xen",
    "root_device_name": "/dev/xvda",
    "root_device_type": "ebs",
    "sriov": "simple",
}
AMIS = [
    {"ami_id": "ami-0deb12a0old", "name": "debian-12-amd64-20240101-1600", "owner_id": DEBIAN_OWNER,
     "architecture": "x86_64", "creation_date": "2024-01-01T16:00:00.000Z"},
    {"ami_id": "ami-0deb12a0new", "name": "debian-12-amd64-20250601-2100", "owner_id": DEBIAN_OWNER,
     "architecture": "x86_64", "creation_date": "2025-06-01T21:00:00.000Z"},
    {"ami_id": "ami-0deb12b0new", "name": "debian-12-backports-amd64-20250701-2100", "owner_id": DEBIAN_OWNER,
     "architecture": "x86_64", "creation_date": "2025-07-01T21:00:00.000Z"},
    {"ami_id": "ami-0deb12arm64", "name": "debian-12-arm64-20250601-2100", "owner_id": DEBIAN_OWNER,
     "architecture": "arm64", "creation_date": "2025-06-01T21:00:00.000Z"},
    {"ami_id": "ami-0impostor01", "name": "debian-12-amd64-20991231-2359", "owner_id": IMPOSTOR_OWNER,
     "architecture": "x86_64", "creation_date": "2099-12-31T23:59:00.000Z"},
]  # fmt: skip
NEWEST_DEBIAN = {"x86_64": "ami-0deb12a0new", "arm64": "ami-0deb12arm64"}
_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the test session closes it
server.stop()
"""


@contextlib.contextmanager
def server(work: Path, timeout: float = 120) -> Iterator[str]:
    """moto's server on 127.0.0.1 with this module's AMIs; yields its URL (the --amazonec2-endpoint)."""
    (work / "amis.json").write_text(json.dumps([{**_AMI, **ami} for ami in AMIS]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env["MOTO_AMIS_PATH"] = str(work / "amis.json")
    with open(work / "moto.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
        )
    assert process.stdin and process.stdout
    try:
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        port = process.stdout.readline().strip() if ready else b""
        if not port.isdigit():
            raise RuntimeError(f"moto's server did not start: {(work / 'moto.log').read_text()}")
        yield f"http://127.0.0.1:{port.decode()}"
    finally:
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def environment(base: Path, endpoint: str, **extra: str) -> dict[str, str]:
    """os.environ without anything AWS of the user's: dummy credentials, empty config files, no instance
    metadata lookups; `extra` on top."""
    (base / "aws-config").write_text("")
    (base / "aws-credentials").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(base / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(base / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        **extra,
    )
    return env


def client(endpoint: str, region: str = "us-east-1", service: str = "ec2") -> Any:
    """A client of moto's server, for the test's own look at what the driver made (and to prepare for it)."""
    import boto3

    return boto3.client(
        service, region_name=region, endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def user_data(ec2: Any, instance_id: str) -> bytes:
    """The user data the instance was launched with, exactly as the driver sent it."""
    value = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
    return base64.b64decode(value)


def machine_config(data: bytes) -> dict[str, Any]:
    """The driver's own #cloud-config in user data (the first part when it is MIME multipart)."""
    text = data.decode()
    if text.startswith("Content-Type:"):
        parts = [p for p in email.message_from_string(text).walk() if not p.is_multipart()]
        text = parts[0].get_payload(decode=True).decode()
    assert text.startswith("#cloud-config\n"), text[:200]
    config: dict[str, Any] = json.loads(text.split("\n", 1)[1])
    return config
