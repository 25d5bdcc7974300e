"""The Vagrant driver's pure parts: its options and their validation, the Vagrantfile it writes (checked by
Ruby's own parser when Ruby is installed), `vagrant ssh-config` read as OpenSSH reads it, and the OVF
descriptor of a VirtualBox box."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from drivers import DriverError, SSHEndpoint
from drivers.vagrant import VagrantDriver, VagrantSettings, parse_ssh_config
from drivers.vagrant.vagrantfile import Spec, render, ruby
from machine.vm import bootdisk, ovf, vagrantbox
from machine.vm.images import ImageError


def settings(args: list[str]) -> VagrantSettings:
    seen: dict = {}
    command = click.Command("create", params=VagrantDriver.options(), callback=lambda **kw: seen.update(kw))
    result = CliRunner().invoke(command, args, standalone_mode=False, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    made = VagrantDriver.settings_from_options(seen)
    assert isinstance(made, VagrantSettings)
    return made


def test_options_are_the_issues_with_virtualbox_by_default() -> None:
    options = {o.opts[0]: o for o in VagrantDriver.options()}
    assert set(options) == {
        "--vagrant-provider",
        "--vagrant-box",
        "--vagrant-cpus",
        "--vagrant-memory",
        "--vagrant-disk-size",
        "--vagrant-network",
        "--vagrant-vagrant-binary",
    }
    assert options["--vagrant-provider"].default == "virtualbox"
    assert list(options["--vagrant-provider"].type.choices) == [  # type: ignore[attr-defined]
        "virtualbox",
        "libvirt",
        "vmware_desktop",
        "parallels",
        "hyperv",
    ]
    made = settings([])
    assert made.own_box and made.disk_gib == 0 and made.ssh_host == ""


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--vagrant-cpus", "0"], "at least one CPU"),
        (["--vagrant-memory", "64"], "at least 128 MiB"),
        (["--vagrant-disk-size", "20GB"], "a size in GiB such as 20G"),
        (["--vagrant-provider", "hyperv", "--vagrant-disk-size", "20G"], "hyperv provider cannot resize"),
        (["--vagrant-network", "192.168.56"], "an IPv4 address or dhcp"),
        (["--vagrant-network", "10.0.0.5"], "192.168.56.0/21 only"),
        (["--vagrant-network", "192.168.64.1"], "192.168.56.0/21 only"),
    ],
)
def test_bad_values_are_refused_with_what_to_give(args: list[str], error: str) -> None:
    with pytest.raises(DriverError, match=error):
        settings(args)


def test_good_values_pass() -> None:
    assert settings(["--vagrant-network", "192.168.63.250"]).network == "192.168.63.250"
    assert settings(["--vagrant-provider", "libvirt", "--vagrant-network", "10.0.0.5"]).provider == "libvirt"
    assert settings(["--vagrant-disk-size", "20G"]).disk_gib == 20
    assert settings(["--vagrant-network", "dhcp"]).network == "dhcp"
    assert not settings(["--vagrant-box", "debian/bookworm64"]).own_box
    assert settings(["--vagrant-box", "machine/debian-12"]).own_box


def test_ssh_config_is_read_as_openssh_reads_it() -> None:
    text = """Host default
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile "/Users/a b/.local/share/machine/machines/dev/ssh_key"
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

"""
    assert parse_ssh_config(text) == SSHEndpoint("127.0.0.1", 2222, "vagrant")
    libvirt = "Host default\n  HostName 192.168.121.169\n  User root\n  Port 22\n"
    assert parse_ssh_config(libvirt) == SSHEndpoint("192.168.121.169", 22, "root")
    with pytest.raises(DriverError, match="named no host"):
        parse_ssh_config("\n")


def spec(**changes: object) -> Spec:
    values: dict = {
        "name": "dev",
        "provider": "libvirt",
        "box": "machine/debian-12",
        "key": Path("/store/machines/dev/ssh_key"),
        "public_key": "ssh-ed25519 AAAAC3Nza machine-dev",
        "box_version": "20261130.170837",
        "seed": Path("/store/machines/dev/seed.img"),
        "serial_log": Path("/store/machines/dev/serial.log"),
    }
    values.update(changes)
    return Spec(**values)


def ruby_parses(text: str, tmp_path: Path) -> None:
    if not shutil.which("ruby"):
        return
    (tmp_path / "Vagrantfile").write_text(text)
    checked = subprocess.run(["ruby", "-c", str(tmp_path / "Vagrantfile")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_vagrantfile_of_our_box_on_libvirt(tmp_path: Path) -> None:
    text = render(spec(disk_gib=20, network="dhcp"))
    ruby_parses(text, tmp_path)
    for line in (
        "config.vm.box = 'machine/debian-12'",
        "config.vm.box_version = '20261130.170837'",
        'config.vm.synced_folder ".", "/vagrant", disabled: true',
        "config.ssh.insert_key = false",
        "config.ssh.private_key_path = ['/store/machines/dev/ssh_key']",
        "config.ssh.username = 'root'",
        "config.vm.network :private_network, type: 'dhcp'",
        "p.default_prefix = 'machine-dev-'",
        "p.machine_virtual_size = 20",
        "p.qemuargs value: 'file=/store/machines/dev/seed.img,if=none,id=machine-seed,format=raw,readonly=on'",
        "p.qemuargs value: 'virtio-blk-pci,drive=machine-seed,addr=0x1f'",
        "p.serial type: 'file', source: {path: '/store/machines/dev/serial.log'}",
    ):
        assert f"  {line}\n" in text, line
    assert "vagrant*" not in text and "provision" not in text and "config.vm.disk" not in text


def test_vagrantfile_of_our_box_on_virtualbox(tmp_path: Path) -> None:
    text = render(spec(provider="virtualbox", seed=Path("/s/dev/seed.vmdk"), disk_gib=30, network="192.168.56.10"))
    ruby_parses(text, tmp_path)
    assert "  config.vm.disk :disk, name: 'machine-root', size: '30GB', primary: true\n" in text
    assert "  config.vm.network :private_network, ip: '192.168.56.10'\n" in text
    assert (
        "    p.customize ['storageattach', :id, '--storagectl', 'SATA Controller', '--port', '1', '--device', '0', "
        "'--type', 'hdd', '--medium', '/s/dev/seed.vmdk']\n" in text
    )
    assert "qemuargs" not in text and "machine_virtual_size" not in text


def test_vagrantfile_of_a_box_from_elsewhere(tmp_path: Path) -> None:
    text = render(spec(box="debian/bookworm64", box_version="", seed=None, provider="vmware_desktop"))
    ruby_parses(text, tmp_path)
    assert "config.ssh.username" not in text and "box_version" not in text
    assert "Vagrant.source_root.join('keys', 'vagrant*')" in text  # the insecure key until ours is authorized
    assert "config.vm.provision 'machine-key', type: 'shell', privileged: false" in text
    assert "args: ['ssh-ed25519 AAAAC3Nza machine-dev']" in text
    assert "p.vmx['memsize'] = '1024'" in text


def test_ruby_strings_are_escaped() -> None:
    assert ruby("it's a \\ path") == "'it\\'s a \\\\ path'"


def test_ovf_names_the_disk_and_the_resources() -> None:
    root = ET.fromstring(ovf.descriptor("machine-x", "box-disk001.vmdk", 12345, 8 << 30, cpus=2, memory_mib=2048))
    ns = {"ovf": ovf.OVF, "rasd": ovf.RASD}
    file = root.find("ovf:References/ovf:File", ns)
    assert file is not None and file.get(f"{{{ovf.OVF}}}href") == "box-disk001.vmdk"
    assert file.get(f"{{{ovf.OVF}}}size") == "12345"
    disk = root.find("ovf:DiskSection/ovf:Disk", ns)
    assert disk is not None and disk.get(f"{{{ovf.OVF}}}capacity") == str(8 << 30)
    assert disk.get(f"{{{ovf.OVF}}}format", "").endswith("#streamOptimized")
    items = {
        item.findtext("rasd:ResourceType", namespaces=ns): item
        for item in root.findall("ovf:VirtualSystem/ovf:VirtualHardwareSection/ovf:Item", ns)
    }
    assert items["3"].findtext("rasd:VirtualQuantity", namespaces=ns) == "2"
    assert items["4"].findtext("rasd:VirtualQuantity", namespaces=ns) == "2048"
    assert items["20"].findtext("rasd:ResourceSubType", namespaces=ns) == "AHCI"
    assert items["17"].findtext("rasd:HostResource", namespaces=ns) == "ovf:/disk/vmdisk1"
    assert items["17"].findtext("rasd:Parent", namespaces=ns) == items["20"].findtext("rasd:InstanceID", namespaces=ns)
    assert items["10"].findtext("rasd:Connection", namespaces=ns) == "NAT"


def test_box_version_is_the_images_build_time() -> None:
    assert vagrantbox.version({"built": "2026-11-30T17:08:37Z"}) == "20261130.170837"
    with pytest.raises(ImageError, match="rebuild it"):
        vagrantbox.version({})


def test_kernel_arguments_name_the_partition_and_the_consoles() -> None:
    assert bootdisk.kernel_args(bootdisk.VIRTIO).startswith("root=LABEL=machine-root console=ttyS0 quiet")
    assert bootdisk.kernel_args(bootdisk.AHCI).startswith("root=LABEL=machine-root console=tty0 console=ttyS0 quiet")
