"""The amazonec2 driver's user data on a real Debian cloud image: the exact user data the driver sent to EC2
(moto's describe_instance_attribute) seeds a local qemu guest booted from the cloud-image stand-in
(tests/support/cloud_image.py: GRUB, Debian's cloud kernel and cloud-init), which plays the instance
through --amazonec2-ssh-address. Cloud-init creates the user and installs the pinned host keys, the user's
own user data is merged in, provisioning installs the agent through sudo, and docker runs through the tunnel.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from machine.busybox import image_tar
from tests.cloud.conftest import Cloud
from tests.support import http, moto_ec2, qemu_guest
from tests.support.sshd import free_port

THEIR_USER_DATA = """#cloud-config
write_files:
- path: /etc/from-their-user-data
  content: merged
users:
- name: theirs
  shell: /bin/sh
hostname: not-this-one
ssh_deletekeys: false
"""


@pytest.mark.vm
def test_a_debian_cloud_image_takes_the_user_data_and_runs_containers(
    cloud: Cloud, cloud_image: Path, tmp_path: Path
) -> None:
    name = f"guest-{uuid.uuid4().hex[:6]}"
    port = free_port()
    (tmp_path / "user-data").write_text(THEIR_USER_DATA)
    started = time.monotonic()
    process = cloud.popen(
        "create",
        *cloud.driver_args,
        "--amazonec2-ssh-address",
        f"127.0.0.1:{port}",
        "--amazonec2-userdata",
        str(tmp_path / "user-data"),
        name,
    )
    while (instance := cloud.instance(name)) is None:
        assert process.poll() is None and time.monotonic() - started < 120, process.communicate()
        time.sleep(0.2)
    sent = moto_ec2.user_data(cloud.ec2, instance["InstanceId"])
    with qemu_guest.booted(cloud_image, sent, tmp_path / "guest", instance["InstanceId"], name, port) as guest:
        try:
            out, err = process.communicate(timeout=900)
        finally:
            process.kill()
        assert process.returncode == 0, f"{out}\n{err}\n--- console:\n{guest.serial()[-4000:]}"
        assert "The packages the agent needs are installed" in err  # nothing fetched from outside this machine
        created = time.monotonic() - started
        info = json.loads(cloud.cli("inspect", name).stdout)
        assert info["ssh"]["user"] == "admin" and info["agent"]["version"]
        pinned = info["ssh"]["host_keys"]
        assert pinned == [moto_ec2.machine_config(sent)["ssh_keys"]["ed25519_public"]]

        def ssh(command: str) -> str:
            return cloud.cli("ssh", name, "--", command, timeout=120).stdout

        # cloud-init took our user, host key and hostname, and the user's own file and user beside them
        assert ssh("sudo -n cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2] == pinned[0].split()[:2]
        assert ssh("hostname") == f"{name}\n"
        assert ssh("cat /etc/from-their-user-data") == "merged"
        assert ssh("id -un theirs") == "theirs\n"
        assert ssh("systemctl is-active machine-agent") == "active\n"

        image_tar(tmp_path / "busybox.tar", "busybox:latest")
        cloud.cli("load", "--machine", name, "-i", str(tmp_path / "busybox.tar"), timeout=300)
        env = dict(cloud.cli.env)
        for line in cloud.cli("env", name, "--shell", "bash").stdout.splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export ") :].partition("=")
                env[key] = value.strip('"')
        run = subprocess.run(
            ["docker", "run", "--rm", "busybox", "sh", "-c", "echo from the instance; hostname"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines()[0] == "from the instance"
        published = free_port()
        serve = "mkdir /www && echo served from the instance > /www/index.html && httpd -f -p 80 -h /www"
        cloud.cli("run", "--machine", name, "-d", "-p", f"{published}:80", "busybox", "sh", "-c", serve)
        # the published port answers on this computer's 127.0.0.1, through the tunnel
        assert http.page(published, within=120, every=1) == b"served from the instance\n"
        cloud.cli("rm", "-y", name, timeout=300)
    assert cloud.leftovers(name) == []
    print(f"create with the guest booting: {created:.0f}s")
