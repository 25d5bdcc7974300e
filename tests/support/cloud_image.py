"""A stand-in for Debian's official cloud image, built from Debian's packages (cloud.debian.org is not
reachable from CI): an MBR-partitioned disk that boots through GRUB, with Debian's cloud kernel,
cloud-init, ifupdown and no SSH host keys, like debian-12-genericcloud-amd64.qcow2. The agent's
runtime packages are preinstalled so that provisioning needs no network in the test.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

PACKAGES = [
    "linux-image-cloud-amd64",
    "systemd-sysv",
    "udev",
    "dbus",
    "openssh-server",
    "sudo",
    "cloud-init",
    "cloud-guest-utils",
    "locales",
    "ifupdown",
    "isc-dhcp-client",
    "python3",
    "grub-pc-bin",
    "e2fsprogs",
    "crun",
    "runc",
    "conmon",
    "iproute2",
    "nftables",
    "iptables",
    "ca-certificates",
    "sshfs",
]
PARTITION_START = 2048  # sectors: GRUB's core image lives in the gap before the partition
GRUB_CFG = """set timeout=0
linux /boot/vmlinuz root=/dev/vda1 ro console=ttyS0 quiet
initrd /boot/initrd.img
boot
"""


def ensure(target: Path) -> Path:
    """`target`, built unless it holds today's PACKAGES (a list beside it says which it holds)."""
    listed = target.with_name(f"{target.name}.packages")
    if not target.exists() or not listed.exists() or listed.read_text().split() != PACKAGES:
        build(target)
        listed.write_text("\n".join(PACKAGES) + "\n")
    return target


def build(target: Path, size_mib: int = 2048) -> None:
    """Write the image to `target` (qcow2)."""
    work = target.parent / f".{target.name}.work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        rootfs = work / "rootfs"
        subprocess.run(
            [
                "mmdebstrap",
                "--variant=apt",
                "--quiet",
                f"--include={','.join(PACKAGES)}",
                "--dpkgopt=path-exclude=/usr/share/{doc,man,locale}/*",
                "bookworm",
                str(rootfs),
            ],
            check=True,
        )
        (rootfs / "etc/fstab").write_text("/dev/vda1 / ext4 defaults 0 1\n")
        for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        (rootfs / "etc/machine-id").write_text("")
        (rootfs / "etc/network/interfaces").write_text(
            "source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n"
        )
        kernel = max((rootfs / "boot").glob("vmlinuz-*"), key=lambda p: p.name)
        shutil.copyfile(kernel, rootfs / "boot/vmlinuz")
        shutil.copyfile(rootfs / "boot" / kernel.name.replace("vmlinuz", "initrd.img"), rootfs / "boot/initrd.img")
        shutil.copytree(rootfs / "usr/lib/grub/i386-pc", rootfs / "boot/grub/i386-pc")
        (rootfs / "boot/grub/grub.cfg").write_text(GRUB_CFG)
        subprocess.run(
            [
                "chroot",
                str(rootfs),
                "grub-mkimage",
                "-O",
                "i386-pc",
                "-o",
                "/core.img",
                "-p",
                "(hd0,msdos1)/boot/grub",
                "biosdisk",
                "part_msdos",
                "ext2",
                "normal",
                "linux",
                "configfile",
            ],
            check=True,
        )
        core = (rootfs / "core.img").read_bytes()
        boot = (rootfs / "usr/lib/grub/i386-pc/boot.img").read_bytes()
        (rootfs / "core.img").unlink()
        assert len(core) < (PARTITION_START - 1) * 512
        raw = work / "disk.raw"
        subprocess.run(
            [
                "mke2fs",
                "-q",
                "-t",
                "ext4",
                "-d",
                str(rootfs),
                "-E",
                f"offset={PARTITION_START * 512}",
                str(raw),
                f"{size_mib - 1}M",
            ],
            check=True,
        )
        sectors = raw.stat().st_size // 512 - PARTITION_START
        entry = struct.pack("<B3sB3sII", 0x80, b"\0\0\0", 0x83, b"\xff\xff\xff", PARTITION_START, sectors)
        with open(raw, "r+b") as disk:  # GRUB's boot sector + one partition, then the core image after it
            disk.write(boot[:440] + b"\0" * 6 + entry + b"\0" * 48 + b"\x55\xaa")
            disk.write(core)
        subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(target)], check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
