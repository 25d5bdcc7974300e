"""Boxes checked structurally, as VirtualBox itself is not available here (and the VirtualBox box's disk booted
by qemu on the same kind of SATA controller): `machine image box -o` on a small
image made like the guest image (partition-less ext4 labelled machine-root, a kernel in /boot, busybox, the
boot modules with their modules.dep), then every part of the box read back with the real tools: tar,
qemu-img, the OVF parsed, the MBR and GRUB's boot code, the initrd's modules, e2fsck."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from machine.vm import bootdisk, bootfiles, guestimage, keys, ovf
from machine.vm.images import write_manifest

RELEASE = "6.1.0-99-amd64"
MODULES = {  # modules.dep as Debian's kernel has it for the boot modules of both controllers
    "kernel/drivers/virtio/virtio.ko": [],
    "kernel/drivers/virtio/virtio_ring.ko": [],
    "kernel/drivers/virtio/virtio_pci.ko": ["kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko"],
    "kernel/drivers/block/virtio_blk.ko": ["kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko"],
    "kernel/crypto/crc32c_generic.ko": [],
    "kernel/fs/ext4/ext4.ko": ["kernel/fs/jbd2/jbd2.ko", "kernel/fs/mbcache.ko"],
    "kernel/fs/jbd2/jbd2.ko": [],
    "kernel/fs/mbcache.ko": [],
    "kernel/drivers/scsi/scsi_common.ko": [],
    "kernel/drivers/scsi/scsi_mod.ko": ["kernel/drivers/scsi/scsi_common.ko"],
    "kernel/drivers/scsi/sd_mod.ko": ["kernel/drivers/scsi/scsi_mod.ko", "kernel/drivers/scsi/scsi_common.ko"],
    "kernel/drivers/ata/libata.ko": ["kernel/drivers/scsi/scsi_mod.ko"],
    "kernel/drivers/ata/libahci.ko": ["kernel/drivers/ata/libata.ko"],
    "kernel/drivers/ata/ahci.ko": ["kernel/drivers/ata/libahci.ko", "kernel/drivers/ata/libata.ko"],
}

pytestmark = pytest.mark.skipif(
    bool(bootdisk.missing_tools()), reason="needs qemu-utils, e2fsprogs and grub-pc-bin (tests/run installs them)"
)


def small_image(images: Path, name: str, without: tuple[str, ...] = ()) -> None:
    """An image folder like guestimage.build() makes, with a root filesystem of a few MB."""
    rootfs = images / f".{name}-rootfs"
    modules = rootfs / "lib/modules" / RELEASE
    for folder in ("boot", "usr/bin", "usr/local/sbin", "etc/systemd/system/machine-grow.service.d"):
        (rootfs / folder).mkdir(parents=True, exist_ok=True)
    (rootfs / "boot" / f"vmlinuz-{RELEASE}").write_bytes(b"kernel" * 1000)
    (rootfs / "usr/bin/busybox").write_bytes(b"\x7fELF busybox")
    kept = {module: deps for module, deps in MODULES.items() if Path(module).stem not in without}
    for module in kept:
        (modules / module).parent.mkdir(parents=True, exist_ok=True)
        (modules / module).write_bytes(f"module {Path(module).stem}".encode())
    (modules / "modules.dep").write_text("".join(f"{m}: {' '.join(d)}\n" for m, d in kept.items()))
    folder = images / name
    folder.mkdir(parents=True)
    raw = images / f".{name}.raw"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-L", "machine-root", "-d", str(rootfs), str(raw), "64M"], check=True)
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(folder / "disk.qcow2")], check=True)
    raw.unlink()
    shutil.rmtree(rootfs)
    for file in ("vmlinux", "initrd.img"):
        (folder / file).write_bytes(b"not used by boxes")
    write_manifest(
        folder,
        {
            "name": name,
            "suite": "bookworm",
            "built": "2026-11-30T17:08:37Z",
            "kernel": RELEASE,
            "packages": [f"{package} 1" for package in guestimage.PACKAGES],  # current: no rebuild
        },
        ("disk.qcow2", "vmlinux", "initrd.img"),
    )


def machine(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MACHINE_STORAGE_PATH=str(store))
    return subprocess.run(
        [sys.executable, "-m", "machine", *args], env=env, capture_output=True, text=True, timeout=300
    )


def unpack(box: Path, into: Path) -> dict[str, Path]:
    with tarfile.open(box) as tar:
        names = tar.getnames()
        tar.extractall(into, filter="data")
    return {name: into / name for name in names}


def qemu_info(path: Path) -> dict:
    return json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True, check=True
        ).stdout
    )


def initrd_names(filesystem: str, tmp_path: Path) -> list[str]:
    """The file names in the box's initrd, a newc cpio archive read back from the box's filesystem."""
    subprocess.run(["debugfs", "-R", f"dump {bootdisk.INITRD} {tmp_path / 'initrd'}", filesystem], capture_output=True)
    data, names, at = (tmp_path / "initrd").read_bytes(), [], 0
    while data[at : at + 6] == b"070701":
        size, name_size = int(data[at + 54 : at + 62], 16), int(data[at + 94 : at + 102], 16)
        name = data[at + 110 : at + 110 + name_size - 1].decode()
        if name == "TRAILER!!!":
            return names
        names.append(name)
        at += 110 + name_size
        at += -at % 4 + size
        at += -at % 4
    raise AssertionError(f"{bootdisk.INITRD} is not a complete newc archive")


def check_disk(raw: Path, controller: bootdisk.Controller, tmp_path: Path) -> None:
    """MBR with GRUB's boot code and one bootable Linux partition spanning the disk, GRUB's core image after it
    (its embedded configuration is compressed: the VM test proves it boots), a clean filesystem holding the
    initrd with the controller's modules and the grow script for the controller's disk."""
    with open(raw, "rb") as f:
        data = f.read(bootdisk.PARTITION_START * 512)
    assert data[510:512] == b"\x55\xaa"
    assert data[:440] == (bootdisk.GRUB_DIR / "boot.img").read_bytes()[:440]
    entry = data[446:462]
    assert entry[0] == 0x80 and entry[4] == 0x83
    assert int.from_bytes(entry[8:12], "little") == bootdisk.PARTITION_START
    assert int.from_bytes(entry[12:16], "little") == raw.stat().st_size // 512 - bootdisk.PARTITION_START
    assert data[512 : 512 + 0x100] == (bootdisk.GRUB_DIR / "diskboot.img").read_bytes()[:0x100]  # GRUB's core
    filesystem = f"{raw}?offset={bootdisk.PARTITION_START * 512}"
    checked = subprocess.run(["e2fsck", "-fn", filesystem], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = initrd_names(filesystem, tmp_path)
    loaded = [name.split("-", 1)[1] for name in names if name.startswith("lib/modules/")]
    wanted = (
        {"ahci.ko", "sd_mod.ko", "libata.ko"} if controller is bootdisk.AHCI else {"virtio_blk.ko", "virtio_pci.ko"}
    )
    assert wanted <= set(loaded) and "ext4.ko" in loaded and "init" in names
    first, then = ("libata.ko", "ahci.ko") if controller is bootdisk.AHCI else ("virtio.ko", "virtio_blk.ko")
    assert loaded.index(first) < loaded.index(then)  # a module after what it needs
    grow = subprocess.run(["debugfs", "-R", f"cat {bootdisk.GROW_SCRIPT}", filesystem], capture_output=True, text=True)
    assert 'os.stat("/").st_dev' in grow.stdout  # the root disk found from the mounted root, not by name


def test_virtualbox_box_structure(tmp_path: Path) -> None:
    store = tmp_path / "store"
    small_image(store / "cache/images", "small")
    box = tmp_path / "small-virtualbox.box"
    made = machine(store, "image", "box", "--provider", "virtualbox", "-o", str(box), "small")
    assert made.returncode == 0, made.stderr
    assert f"vagrant box add --name machine/small {box}" in made.stdout
    files = unpack(box, tmp_path / "box")
    assert sorted(files) == ["Vagrantfile", "box-disk001.vmdk", "box.ovf", "metadata.json"]
    assert json.loads(files["metadata.json"].read_text()) == {"provider": "virtualbox"}
    assert 'vb.default_nic_type = "virtio"' in files["Vagrantfile"].read_text()
    info = qemu_info(files["box-disk001.vmdk"])
    assert info["format"] == "vmdk" and info["format-specific"]["data"]["create-type"] == "streamOptimized"
    assert info["virtual-size"] == 8 << 30
    root = ET.fromstring(files["box.ovf"].read_text())
    ns = {"ovf": ovf.OVF, "rasd": ovf.RASD}
    reference = root.find("ovf:References/ovf:File", ns)
    disk = root.find("ovf:DiskSection/ovf:Disk", ns)
    assert reference is not None and disk is not None
    assert reference.get(f"{{{ovf.OVF}}}href") == "box-disk001.vmdk"
    assert reference.get(f"{{{ovf.OVF}}}size") == str(files["box-disk001.vmdk"].stat().st_size)
    assert disk.get(f"{{{ovf.OVF}}}capacity") == str(info["virtual-size"])
    kinds = [i.findtext("rasd:ResourceType", namespaces=ns) for i in root.iter(f"{{{ovf.OVF}}}Item")]
    assert sorted(kinds) == ["10", "17", "20", "3", "4"]  # network, disk, SATA controller, CPU, memory
    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(files["box-disk001.vmdk"]), str(raw)], check=True)
    check_disk(raw, bootdisk.AHCI, tmp_path)


def test_libvirt_box_structure(tmp_path: Path) -> None:
    store = tmp_path / "store"
    small_image(store / "cache/images", "small")
    box = tmp_path / "small-libvirt.box"
    made = machine(store, "image", "box", "--provider", "libvirt", "-o", str(box), "small")
    assert made.returncode == 0, made.stderr
    files = unpack(box, tmp_path / "box")
    assert sorted(files) == ["Vagrantfile", "box.img", "metadata.json"]
    assert json.loads(files["metadata.json"].read_text()) == {
        "provider": "libvirt",
        "format": "qcow2",
        "virtual_size": 8,
    }
    vagrantfile = files["Vagrantfile"].read_text()
    assert 'libvirt.driver = "qemu"' in vagrantfile and 'libvirt.cpu_model = "qemu64"' in vagrantfile
    info = qemu_info(files["box.img"])
    assert info["format"] == "qcow2" and "backing-filename" not in info and info["virtual-size"] == 8 << 30
    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(files["box.img"]), str(raw)], check=True)
    check_disk(raw, bootdisk.VIRTIO, tmp_path)


def test_an_image_without_the_controllers_modules_is_refused(tmp_path: Path) -> None:
    """Images built before boxes existed lack the AHCI modules: the error says to rebuild, nothing is written."""
    store = tmp_path / "store"
    small_image(store / "cache/images", "old", without=("ahci", "libahci", "libata"))
    box = tmp_path / "old.box"
    made = machine(store, "image", "box", "--provider", "virtualbox", "-o", str(box), "old")
    assert made.returncode == 1 and "Traceback" not in made.stderr
    assert "the kernel has no module ahci" in made.stderr and "rebuild it with `machine image build`" in made.stderr
    assert not box.exists() and not list(tmp_path.glob("*.box")) and not list(tmp_path.glob(".box-*"))


@pytest.mark.vm
def test_virtualbox_box_boots_from_sata_under_qemu(guest_image: Path, tmp_path: Path) -> None:
    """The VirtualBox box of the cached image on an AHCI controller (qemu's q35 has the SATA controller
    VirtualBox emulates), the seed on a second SATA disk, a virtio NIC: GRUB boots the image's kernel from
    the partition labelled machine-root, whichever disk the kernel probes first, and the guest answers with the
    seed's host key and the seed's authorized key."""
    box = tmp_path / "vb.box"
    made = machine(guest_image, "image", "box", "--provider", "virtualbox", "-o", str(box))
    if "the kernel has no module ahci" in made.stderr:
        pytest.skip("the cached guest image predates the AHCI modules (`machine image build` rebuilds it)")
    assert made.returncode == 0, made.stderr
    files = unpack(box, tmp_path / "box")
    disk = tmp_path / "disk.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(files["box-disk001.vmdk"]), "-F", "vmdk", str(disk)],
        check=True,
    )
    keys.generate_key(tmp_path / "key", "test")
    host_keys = keys.host_keys()
    bootfiles.write_seed(tmp_path / "seed.img", "sata-guest", (tmp_path / "key.pub").read_text().strip(), host_keys)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "known_hosts").write_text("".join(f"[127.0.0.1]:{port} {k}\n" for k in keys.public_lines(host_keys)))
    qemu = subprocess.Popen(
        ["qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-m", "768", "-nographic", "-nodefaults",
         "-drive", f"file={disk},if=none,id=d0", "-device", "ide-hd,drive=d0,bus=ide.0",
         "-drive", f"file={tmp_path / 'seed.img'},if=none,id=d1,format=raw", "-device", "ide-hd,drive=d1,bus=ide.1",
         "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device", "virtio-net-pci,netdev=n0,romfile=",
         "-serial", f"file:{tmp_path / 'serial.log'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    ssh = ["ssh", "-p", str(port), "-i", str(tmp_path / "key"), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    ssh += ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={tmp_path / 'known_hosts'}", "root@127.0.0.1"]
    try:
        deadline = time.monotonic() + 600  # a GRUB boot under TCG on a loaded 2-core host
        while True:
            answer = subprocess.run(
                [*ssh, "cat /etc/hostname /proc/cmdline /proc/partitions"], capture_output=True, text=True, timeout=60
            )
            serial = tmp_path / "serial.log"  # qemu makes it once it runs
            gave_up = serial.exists() and "initrd: " in serial.read_text(errors="replace")  # its shell follows
            if answer.returncode == 0 or gave_up or qemu.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(5)
    finally:
        qemu.kill()
        _, qemu_errors = qemu.communicate()
    assert answer.returncode == 0, f"{answer.stderr}\n{qemu_errors.decode()}\n{(tmp_path / 'serial.log').read_text()}"
    hostname, cmdline, partitions = answer.stdout.split("\n", 2)
    assert hostname == "sata-guest"
    assert cmdline.startswith("BOOT_IMAGE=/boot/vmlinuz-") and "root=LABEL=machine-root" in cmdline
    names = {line.split()[-1] for line in partitions.splitlines()[1:] if line.strip()}
    assert {"sda", "sdb"} <= names and ("sda1" in names) != ("sdb1" in names)  # one partitioned disk, one seed
