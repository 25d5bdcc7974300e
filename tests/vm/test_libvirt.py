"""The libvirt driver: domain logic on libvirt's test driver, and a real VM under qemu end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from machine import agent
from machine.busybox import image_tar
from tests.support import http


def machine_cli(env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`machine ARGS...` in a subprocess with `env`; fails the test on a non-zero exit unless check=False."""

    def machine(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(
                [sys.executable, "-m", "machine", *args], env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as e:
            said = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else ""
            message = f"machine {' '.join(args)}: no end within {timeout:.0f}s\n{said}{consoles(args)}"
            raise AssertionError(message) from None
        if check and result.returncode != 0:
            raise AssertionError(
                f"machine {' '.join(args)}: {result.returncode}\n{result.stdout}\n{result.stderr}{consoles(args)}"
            )
        return result

    def consoles(args: tuple[str, ...]) -> str:
        """The end of the serial console of each machine named in `args` (why a boot hung)."""
        machines = Path(env["MACHINE_STORAGE_PATH"]) / "machines"
        logs = [machines / arg / "serial.log" for arg in args if arg and "/" not in arg and not arg.startswith(".")]
        return "".join(f"\n--- {log}:\n{log.read_text(errors='replace')[-3000:]}" for log in logs if log.is_file())

    return machine


def docker_env(
    machine: Callable[..., subprocess.CompletedProcess[str]], name: str, env: dict[str, str]
) -> dict[str, str]:
    """`env` plus what `machine env NAME` exports."""
    result = dict(env)
    for line in machine("env", name, "--shell", "bash").stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            result[key] = value.strip('"')
    return result


@pytest.mark.vm
def test_vm_end_to_end(guest_image: Path, tmp_path: Path) -> None:
    # a store of this test's own, its image cache hard links to the shared one: the test moves its cache away
    store = tmp_path / "store"
    shutil.copytree(guest_image / "cache/images/debian-12", store / "cache/images/debian-12", copy_function=os.link)
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, MACHINE_STORAGE_PATH=str(store), DOCKER_CONFIG=str(tmp_path / "docker"))
    env.pop("DOCKER_HOST", None)
    machine = machine_cli(env)
    mac = None
    shared, readonly = tmp_path / "shared", tmp_path / "readonly"
    for folder in (shared, readonly):
        folder.mkdir()
    (shared / "hello.txt").write_text("from the computer\n")
    (tmp_path / "secret.txt").write_text("host secret\n")
    os.symlink(tmp_path / "secret.txt", shared / "out")  # a link in the share that leads out of it
    try:
        created = machine(
            "create",
            "-d",
            "libvirt",
            "--libvirt-memory",
            "768",
            "--share",
            f"{shared}:/srv/shared",
            "--share",
            f"{readonly}:/srv/readonly:ro",
            name,
        )
        assert "Waiting for SSH" in created.stderr and "ready" in created.stderr
        # an image built with this agent has it started at boot: create only waits for it (else it upgrades it)
        manifest = json.loads((store / "cache/images/debian-12/manifest.json").read_text())
        current = manifest.get("agent") == agent.fingerprint(agent.AgentLocation(), agent.build())
        assert ("(the image has it)" in created.stderr) == current, created.stderr
        assert ("Detecting the operating system" in created.stderr) != current, created.stderr
        if current:  # create made no SSH connection of its own: the tunnel's is the one before this command's
            sshd = machine("ssh", name, "--", "journalctl", "-o", "cat", "_COMM=sshd").stdout
            assert sshd.count("Accepted publickey") == 2, sshd
        # right after create, before the guest handles an ACPI button press: asked over SSH, it powers off
        assert "powering it off" not in machine("stop", "--shutdown", name, timeout=300).stderr
        assert machine("status", name).stdout == "Stopped\n"
        machine("start", name, timeout=600)
        info = json.loads(machine("inspect", name).stdout)
        assert info["ssh"]["host_keys"] and info["agent"]["version"]
        assert machine("status", name).stdout == "Running\n"
        assert machine("ssh", name, "--", "systemctl", "is-active", "machine-agent").stdout == "active\n"
        image_tar(tmp_path / "busybox.tar", "busybox:latest")
        machine("load", "--machine", name, "-i", str(tmp_path / "busybox.tar"))
        run = subprocess.run(
            ["docker", "run", "--rm", "-v", "kept:/data", "busybox", "sh", "-c", "echo persisted > /data/f; uname -r"],
            env=docker_env(machine, name, env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == machine("ssh", name, "--", "uname", "-r").stdout.strip()  # the guest's kernel
        check_shares(machine, name, shared, readonly)
        machine(
            "run",
            "--machine",
            name,
            "-d",
            "--name",
            "site",
            "-p",
            "18085:80",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        )
        # the published port answers on this computer's 127.0.0.1, through the tunnel
        assert (
            http.page(18085, "/hostname", within=60, every=0.5).strip()
            == machine("ssh", name, "cat /var/lib/machine-agent/containers/*/hostname").stdout.strip().encode()
        )
        check_saved_state(machine, name, store / "machines" / name)
        # a saved state that no longer fits (another agent) is discarded and the machine boots, from its own
        # links to the image: the image cache is moved away meanwhile, as if rebuilt or removed
        boot = machine("ssh", name, "--", "cat /proc/sys/kernel/random/boot_id").stdout
        machine("stop", name, timeout=300)
        folder = store / "machines" / name
        version = json.loads((folder / "config.json").read_text())["agent"]["version"]
        set_agent_version(folder, f"{version}-other")
        cache = store / "cache/images/debian-12"
        cache.rename(cache.with_name("moved-away"))
        try:
            assert "no longer fits" in machine("start", name, timeout=600).stderr
        finally:
            cache.with_name("moved-away").rename(cache)
            set_agent_version(folder, version)
        assert machine("ssh", name, "--", "cat /proc/sys/kernel/random/boot_id").stdout != boot  # it booted
        assert (
            machine("run", "--machine", name, "--rm", "-v", "kept:/data", "busybox", "cat", "/data/f").stdout
            == "persisted\n"
        )
        assert machine("ssh", name, "--", "cat", "/srv/shared/hello.txt").stdout == "from the computer\n"  # back
        interfaces = subprocess.run(
            ["virsh", "-c", "qemu:///system", "domiflist", f"machine-{name}"], capture_output=True, text=True
        ).stdout
        mac = interfaces.split()[-1]
        assert mac.count(":") == 5
        # shut down from outside (virsh), behind the tunnel's back: the tunnel exits by itself, and env then says
        # the machine is not running and names `machine start`, leaving no tunnel
        pid = int((folder / "tunnel.pid").read_text())
        subprocess.run(
            ["virsh", "-c", "qemu:///system", "shutdown", f"machine-{name}"], check=True, capture_output=True
        )
        deadline = time.monotonic() + 600
        while _alive(pid):
            assert time.monotonic() < deadline, "the tunnel still runs after its VM shut down"
            time.sleep(1)
        assert f"tunnel for {name} exits: machine {name} is stopped" in (folder / "tunnel.log").read_text()
        failed = machine("env", name, check=False)
        assert failed.returncode == 1 and failed.stdout == ""
        assert failed.stderr == (
            f"Error: machine {name} is not running (state Stopped). Start it with `machine start {name}`\n"
        )
        assert not (folder / "tunnel.pid").exists() and not (folder / "docker.sock").exists()
        assert machine("status", name).stdout == "Stopped\n"
    finally:
        machine("rm", "-f", "-y", name, check=False, timeout=300)
    domains = subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True, text=True
    ).stdout.split()
    assert f"machine-{name}" not in domains
    assert not (store / "machines" / name).exists()
    assert mac is None or mac not in dhcp_leases()
    # dnsmasq writes back every lease it still holds when signalled (as libvirtd does when it restarts)
    subprocess.run(["pkill", "-HUP", "-f", "dnsmasq/machine.conf"])
    time.sleep(1)
    assert mac is None or mac not in dhcp_leases()


def check_shares(
    machine: Callable[..., subprocess.CompletedProcess[str]], name: str, shared: Path, readonly: Path
) -> None:
    """The shares of a running machine: containers read and write them (files owned by this user here), a
    read-only one refuses writes, nothing outside them is reached, and they come back after the SSH link dies."""
    run = ["run", "--machine", name, "--rm", "-v", "/srv/shared:/src", "-v", "/srv/readonly:/ro", "busybox", "sh", "-c"]
    listing = machine(*run, "ls /src; cat /src/hello.txt; echo from-container > /src/made.txt").stdout
    assert listing == "hello.txt\nout\nfrom the computer\n"
    assert (shared / "made.txt").read_text() == "from-container\n" and (
        shared / "made.txt"
    ).stat().st_uid == os.getuid()
    refused = machine(*run, "echo x > /ro/x", check=False)
    assert refused.returncode != 0 and not (readonly / "x").exists()
    secret = str(shared.parent / "secret.txt")
    for attempt in ("cat /srv/shared/out", f"cat /srv/shared/../{secret}", f"cat /srv/shared{secret}", f"cat {secret}"):
        tried = machine("ssh", name, "--", attempt, check=False)
        assert tried.returncode != 0 and "host secret" not in tried.stdout, attempt
    # the tunnel's SSH connection dies (every sshd session but this command's own): the share comes back
    machine("ssh", name, "--", 'for p in $(pgrep -f "[s]shd: root@"); do [ "$p" = "$PPID" ] || kill -9 "$p"; done')
    deadline = time.monotonic() + 120
    while machine("ssh", name, "--", "cat /srv/shared/hello.txt", check=False).stdout != "from the computer\n":
        assert time.monotonic() < deadline, "the share did not come back after its SSH connection died"
        time.sleep(1)


def check_saved_state(machine: Callable[..., subprocess.CompletedProcess[str]], name: str, folder: Path) -> None:
    """stop saves the state and start resumes it: the container and its published port answer again, with the
    guest's clock right; the tunnel held its SSH connection meanwhile (docker is told the machine is stopped), and
    the resume is reached on it, with no new connection."""
    boot_id = "cat /proc/sys/kernel/random/boot_id"
    boot = machine("ssh", name, "--", boot_id).stdout
    page = http.page(18085, "/hostname", within=60, every=0.5)
    log = folder / "tunnel.log"
    connections = [line for line in log.read_text().splitlines() if "SSH connect" in line or "SSH reconnect" in line]
    machine("stop", name, timeout=300)
    assert machine("status", name).stdout == "Stopped\n"
    docker = subprocess.run(
        ["docker", "-H", f"unix://{folder / 'docker.sock'}", "ps"], capture_output=True, text=True, timeout=60
    )
    assert docker.returncode != 0 and f"machine {name} is stopped (its state is saved)" in docker.stderr
    assert "Resuming the saved state" in machine("start", name, timeout=600).stderr
    assert f"clock of the resumed machine {name} stepped" in log.read_text()
    kept = [line for line in log.read_text().splitlines() if "SSH connect" in line or "SSH reconnect" in line]
    assert kept == connections, "the resumed machine is reached on the connection its tunnel held"
    assert machine("ssh", name, "--", boot_id).stdout == boot  # resumed, not booted
    assert http.page(18085, "/hostname", within=60, every=0.5) == page
    before = time.time()
    guest = float(machine("ssh", name, "--", "date +%s.%N").stdout)
    assert before - 2 <= guest <= time.time() + 2  # stepped at resume, not left where it stood


def set_agent_version(folder: Path, version: str) -> None:
    """Record another agent version in the machine's config (as if the agent had changed since a save)."""
    config = folder / "config.json"
    record = json.loads(config.read_text())
    record["agent"]["version"] = version
    config.write_text(json.dumps(record))


def dhcp_leases() -> str:
    return subprocess.run(
        ["virsh", "-c", "qemu:///system", "net-dhcp-leases", "machine"], capture_output=True, text=True
    ).stdout


@pytest.mark.vm
def test_cloud_image_with_a_nocloud_seed(guest_image: Path, cloud_image: Path, tmp_path: Path) -> None:
    """--libvirt-cloud-image: the disk boots through its own GRUB, cloud-init takes the seed ISO."""
    name = f"cloud-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, MACHINE_STORAGE_PATH=str(guest_image), DOCKER_CONFIG=str(tmp_path / "docker"))
    env.pop("DOCKER_HOST", None)
    machine = machine_cli(env)
    try:
        created = machine(
            "create",
            "-d",
            "libvirt",
            "--libvirt-memory",
            "768",
            "--libvirt-disk-size",
            "4G",
            "--libvirt-cloud-image",
            str(cloud_image),
            name,
            timeout=900,  # Debian's initramfs and cloud-init under TCG: as the amazonec2 guest test
        )
        assert "cloud-init configures it" in created.stderr and "ready" in created.stderr
        assert "The packages the agent needs are installed" in created.stderr  # nothing fetched from outside
        info = json.loads(machine("inspect", name).stdout)
        assert info["ssh"]["user"] == "machine" and len(info["ssh"]["host_keys"]) == 1
        # connecting at all proves the pinned key is the guest's: cloud-init installed the machine's own
        assert machine("ssh", name, "--", "cat", "/etc/hostname").stdout == f"{name}\n"
        assert (
            machine("ssh", name, "--", "sudo", "-n", "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]
            == info["ssh"]["host_keys"][0].split()
        )
        assert "cloud" in machine("ssh", name, "--", "uname", "-r").stdout  # the image's own kernel, via GRUB
        size = int(machine("ssh", name, "--", "df", "-B1", "--output=size", "/").stdout.split()[-1])
        assert size > 3 * 1024**3  # cloud-init grew the partition to --libvirt-disk-size
        image_tar(tmp_path / "busybox.tar", "busybox:latest")
        machine("load", "--machine", name, "-i", str(tmp_path / "busybox.tar"))
        run = subprocess.run(
            ["docker", "run", "--rm", "busybox", "echo", "from the cloud image"],
            env=docker_env(machine, name, env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout == "from the cloud image\n"
    finally:
        machine("rm", "-f", "-y", name, check=False, timeout=300)
    assert not (guest_image / "machines" / name).exists()
    assert (
        f"machine-{name}"
        not in subprocess.run(
            ["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True, text=True
        ).stdout.split()
    )


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie no parent reaps has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
