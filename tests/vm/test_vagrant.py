"""The Vagrant driver end to end with the real parts: vagrant and vagrant-libvirt (the provider testable here:
VirtualBox is not in Debian) against libvirtd, the box `machine image box` builds from the cached guest image
booting through its own GRUB, the agent, the docker CLI through the tunnel."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from machine import agent
from machine.busybox import image_tar
from tests.support import http
from tests.support.sshd import free_port
from tests.support.vagrant import VIRSH, VagrantStore, domains, pool_volumes, vagrant_store

pytestmark = pytest.mark.skipif(
    not shutil.which("vagrant") or not shutil.which("grub-mkimage"),
    reason="needs vagrant, vagrant-libvirt and grub-pc-bin (tests/run installs them)",
)


@pytest.fixture(scope="module")
def vagrant(guest_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VagrantStore]:
    """A private store and Vagrant home holding the libvirt box of the cached image, added by `machine image box`."""
    with vagrant_store(guest_image, tmp_path_factory.mktemp("vagrant")) as store:
        started = time.monotonic()
        made = store.cli("image", "box", "--provider", "libvirt", store.image, timeout=900)
        assert f"Vagrant holds the box {store.box}" in made.stdout, made.stderr
        print(f"box built and added in {time.monotonic() - started:.0f}s")
        yield store


def docker_env(store: VagrantStore, name: str) -> dict[str, str]:
    env = dict(store.env)
    for line in store.cli("env", name, "--shell", "bash").stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            env[key] = value.strip('"')
    return env


def leases() -> str:
    """Every lease of vagrant-libvirt's management network (empty when the network is gone)."""
    return subprocess.run(
        [*VIRSH, "net-dhcp-leases", "vagrant-libvirt"], capture_output=True, text=True, timeout=60
    ).stdout


@pytest.mark.vm
@pytest.mark.timeout(1800)  # two boots: with three, 19 min was measured on a loaded host, 2 VMs per core
def test_vagrant_libvirt_end_to_end(vagrant: VagrantStore, tmp_path: Path) -> None:
    """create (up), stop --shutdown (poweroff, halt), start (up: the endpoint read again, the volume kept), stop
    and start (suspend, resume), kill (halt --force) and rm (destroy) on one machine: each boot takes minutes
    under qemu TCG."""
    name = f"vg-{uuid.uuid4().hex[:6]}"
    machine, domain, mac = vagrant.cli, f"machine-{name}-default", None
    folder = vagrant.cli.store / "machines" / name
    try:
        started = time.monotonic()
        created = machine(
            "create", "-d", "vagrant", "--vagrant-provider", "libvirt", "--vagrant-box", vagrant.box,
            "--vagrant-memory", "768", name, timeout=1100,
        )  # fmt: skip
        print(f"create: {time.monotonic() - started:.0f}s")
        assert "vagrant up --provider libvirt" in created.stderr and "Machine booted and ready" in created.stderr
        info = json.loads(machine("inspect", name).stdout)
        assert info["driver"]["settings"]["ssh_user"] == "root" and info["agent"]["version"]
        # the box has its image's agent, started at boot: create only waits for it when it is this one
        manifest = json.loads((vagrant.cli.store / "cache/images" / vagrant.image / "manifest.json").read_text())
        current = manifest.get("agent") == agent.fingerprint(agent.AgentLocation(), agent.build())
        assert ("(the image has it)" in created.stderr) == current, created.stderr
        # the host key pinned at create is the one the seed disk put into the guest (no trust on first use)
        guest_key = machine("ssh", name, "--", "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]
        assert info["ssh"]["host_keys"] == [" ".join(guest_key)]
        assert machine("ssh", name, "--", "cat", "/etc/hostname").stdout == f"{name}\n"
        # booted by the disk's own GRUB (which names the kernel it loaded), not by libvirt's direct kernel boot
        cmdline = machine("ssh", name, "--", "cat", "/proc/cmdline").stdout
        assert "BOOT_IMAGE=/boot/vmlinuz-" in cmdline and "root=LABEL=machine-root" in cmdline
        xml = subprocess.run([*VIRSH, "dumpxml", domain], capture_output=True, text=True, timeout=60).stdout
        assert "<kernel>" not in xml and "machine-seed" in xml
        # the root filesystem grew from the image's 2 GB to the box's disk
        size = int(machine("ssh", name, "--", "df", "-B1", "--output=size", "/").stdout.split()[-1])
        assert size > 6 * 1024**3
        assert machine("status", name).stdout == "Running\n"
        for private in ("Vagrantfile", "seed.img", "vagrant.log", "ssh_key"):
            assert (folder / private).stat().st_mode & 0o777 == 0o600, private

        image_tar(tmp_path / "busybox.tar", "busybox:latest")
        machine("load", "--machine", name, "-i", str(tmp_path / "busybox.tar"), timeout=300)
        env = docker_env(vagrant, name)
        run = subprocess.run(
            ["docker", "run", "--rm", "-v", "kept:/data", "busybox", "sh", "-c", "echo persisted > /data/f; uname -r"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == machine("ssh", name, "--", "uname", "-r").stdout.strip()
        port = free_port()
        machine("run", "--machine", name, "-d", "--name", "site", "-p", f"{port}:80", "busybox",
                "httpd", "-f", "-p", "80", "-h", "/etc", timeout=300)  # fmt: skip
        # the published port answers on this computer's 127.0.0.1, through the tunnel
        assert (
            http.page(port, "/hostname", within=120, every=0.5).strip()
            == machine("ssh", name, "cat /var/lib/machine-agent/containers/*/hostname").stdout.strip().encode()
        )

        interfaces = subprocess.run([*VIRSH, "domiflist", domain], capture_output=True, text=True, timeout=60).stdout
        mac = interfaces.split()[-1]
        assert mac.count(":") == 5
        boot = machine("ssh", name, "--", "cat", "/proc/sys/kernel/random/boot_id").stdout
        started = time.monotonic()
        machine("stop", "--shutdown", name, timeout=600)  # powered off over SSH, then vagrant halt
        print(f"stop --shutdown: {time.monotonic() - started:.0f}s")
        assert machine("status", name).stdout == "Stopped\n"
        state = subprocess.run([*VIRSH, "domstate", domain], capture_output=True, text=True, timeout=60).stdout
        assert state.strip() == "shut off"
        started = time.monotonic()
        machine("start", name, timeout=1100)  # vagrant up
        print(f"start: {time.monotonic() - started:.0f}s")
        assert machine("ssh", name, "--", "cat", "/proc/sys/kernel/random/boot_id").stdout != boot  # it booted
        assert machine("ssh", name, "--", "systemctl", "is-active", "machine-agent").stdout == "active\n"
        assert (
            machine(
                "run", "--machine", name, "--rm", "-v", "kept:/data", "busybox", "cat", "/data/f", timeout=300
            ).stdout
            == "persisted\n"
        )
        lines = machine("ls").stdout.splitlines()
        assert any(line.split()[:4] == [name, "-", "vagrant", "Running"] for line in lines), lines
        # the endpoint was read again at start: the address the guest holds now
        host = json.loads(machine("inspect", name).stdout)["ssh"]["host"]
        assert f"{host}/" in next(line for line in leases().splitlines() if mac in line)
        (tmp_path / "note").write_text("copied\n")
        machine("scp", str(tmp_path / "note"), f"{name}:/tmp/note")
        assert machine("ssh", name, "--", "cat", "/tmp/note").stdout == "copied\n"
        boot = machine("ssh", name, "--", "cat", "/proc/sys/kernel/random/boot_id").stdout
        machine("stop", name, timeout=600)  # vagrant suspend
        assert machine("status", name).stdout == "Paused\n"
        assert "Resuming the saved state" in machine("start", name, timeout=600).stderr  # vagrant resume
        assert machine("ssh", name, "--", "cat", "/proc/sys/kernel/random/boot_id").stdout == boot  # no boot
        machine("kill", name, timeout=600)  # vagrant halt --force
        assert machine("status", name).stdout == "Stopped\n"
    finally:
        machine("rm", "-f", "-y", name, check=False, timeout=600)
    assert domain not in domains()
    assert not any(volume.startswith(f"machine-{name}-") for volume in pool_volumes())
    assert not folder.exists()
    assert mac is None or mac not in leases()


@pytest.mark.vm
def test_a_failing_vagrant_up_is_rolled_back(vagrant: VagrantStore) -> None:
    """libvirt refuses the memory size at `vagrant up`: the error shows Vagrant's own words, nothing stays."""
    name = f"vgfail-{uuid.uuid4().hex[:6]}"
    result = vagrant.cli(
        "create", "-d", "vagrant", "--vagrant-provider", "libvirt", "--vagrant-box", vagrant.box,
        "--vagrant-memory", "100000000", name, check=False, timeout=1100,
    )  # fmt: skip
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: creating the VM failed: `vagrant up --provider=libvirt` failed:"), result.stderr
    assert "memory" in error.lower() and "Traceback" not in result.stderr and "\tfrom /" not in error
    assert "removing what was made" in result.stderr
    assert vagrant.cli("ls", "-q").stdout == ""
    assert not (vagrant.cli.store / "machines" / name).exists()
    assert f"machine-{name}-default" not in domains()
    assert not any(volume.startswith(f"machine-{name}-") for volume in pool_volumes())
