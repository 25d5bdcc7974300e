"""A disk that boots through its own bootloader, made from the cached guest image: what a hypervisor without
direct kernel boot needs (VirtualBox, and any Vagrant provider's box).

Layout: an MBR whose boot code is GRUB's, GRUB's core image in the 1 MiB gap before the only partition, and
the image's ext4 root in that partition, which spans the disk. The core image carries the GRUB modules it
needs and an embedded configuration that boots the image's own kernel (/boot/vmlinuz-*) at once: no menu,
no GRUB file in the filesystem. The initrd is the guest image's busybox initrd (bootfiles.py) with the
modules of the VM's disk controller, so a seed disk installs the machine's SSH host keys, the user's key and
the hostname as it does for the libvirt driver. At the first boot the image's machine-grow unit grows the
partition (when the disk was made larger) and the filesystem to the disk's size.

No root, no loop device: qemu-img writes the image's filesystem at the partition's offset and debugfs edits
it in place. Needs qemu-img, debugfs (e2fsprogs) and GRUB's BIOS modules (Debian: grub-pc-bin).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import bootfiles
from .images import ImageError

SECTOR = 512
PARTITION_START = 2048  # sectors: GRUB's core image lives in the gap before the partition
GRUB_DIR = Path("/usr/lib/grub/i386-pc")
GRUB_MODULES = ["biosdisk", "part_msdos", "ext2", "linux", "boot"]
INITRD = "/boot/initrd.img-machine"
GROW_SCRIPT = "/usr/local/sbin/machine-grow-root"
GROW_DROPIN = "/etc/systemd/system/machine-grow.service.d/partition.conf"  # the image made the folder


@dataclass(frozen=True)
class Controller:
    """The disk controller a VM boots from: the initrd modules that reach its disks, and the consoles the
    kernel writes to."""

    modules: tuple[str, ...]
    console: str


VIRTIO = Controller(tuple(bootfiles.MODULES), "console=ttyS0")  # qemu, libvirt
AHCI = Controller(("ahci", "sd_mod", "crc32c_generic", "ext4"), "console=tty0 console=ttyS0")  # VirtualBox

_GROW = """#!/usr/bin/python3
# Grow the root partition (its disk's only one, MBR) to the end of its disk, then the filesystem in it.
# The disk is found from the root filesystem: SATA disks are named in the order they are probed.
import os, struct, subprocess

mounted = os.stat("/").st_dev
partition = os.path.realpath(f"/sys/dev/block/{os.major(mounted)}:{os.minor(mounted)}")
disk, root = "/dev/" + os.path.basename(os.path.dirname(partition)), "/dev/" + os.path.basename(partition)
with open(os.path.dirname(partition) + "/size") as f:
    sectors = int(f.read())
with open(disk, "r+b") as f:
    mbr = bytearray(f.read(512))
    start, length = struct.unpack_from("<II", mbr, 446 + 8)
    wanted = min(sectors - start, 0xFFFFFFFF)
    if wanted > length:
        struct.pack_into("<I", mbr, 446 + 12, wanted)
        f.seek(0)
        f.write(mbr)
        f.flush()
        os.fsync(f.fileno())
        subprocess.run(["partx", "--update", "--nr", "1", disk], check=True)
subprocess.run(["resize2fs", root], check=True)
"""
_GROW_UNIT = f"""[Service]
ExecStart=
ExecStart={GROW_SCRIPT}
"""


def kernel_args(controller: Controller) -> str:
    """The guest image's kernel arguments, with the root filesystem by its label and the controller's consoles."""
    rest = [arg for arg in bootfiles.KERNEL_ARGS.split() if not arg.startswith(("root=", "console="))]
    return " ".join([f"root=LABEL={bootfiles.ROOT_LABEL}", controller.console, *rest])


def missing_tools() -> list[str]:
    """The Debian packages the build needs that are not installed."""
    missing = {"qemu-utils": shutil.which("qemu-img"), "e2fsprogs": shutil.which("debugfs")}
    missing["grub-pc-bin"] = shutil.which("grub-mkimage") if (GRUB_DIR / "boot.img").exists() else None
    return sorted(package for package, found in missing.items() if not found)


def build(image: Path, release: str, controller: Controller, target: Path, size_gib: int = 8) -> None:
    """Write the raw bootable disk `target` (sparse, `size_gib` or just large enough) from the image folder
    `image` (its disk.qcow2, whose kernel is `release`)."""
    missing = missing_tools()
    if missing:
        raise ImageError(
            f"building a bootable disk needs {', '.join(missing)}: sudo apt-get install {' '.join(missing)}"
        )
    offset = PARTITION_START * SECTOR
    size = max(size_gib << 30, -(-(offset + _virtual_size(image / "disk.qcow2")) >> 30) << 30)
    target.unlink(missing_ok=True)
    with open(target, "wb") as disk:
        disk.truncate(size)
    escaped = str(target).replace(",", ",,")
    source = ["-f", "qcow2", str(image / "disk.qcow2")]
    destination = ["--target-image-opts", f"driver=raw,offset={offset},file.driver=file,file.filename={escaped}"]
    _run("qemu-img convert", ["qemu-img", "convert", "-n", *source, *destination])
    filesystem = f"{target}?offset={offset}"  # debugfs opens the filesystem inside the partition
    with tempfile.TemporaryDirectory(prefix="bootdisk-") as tmp:
        work = Path(tmp)
        (work / "initrd.img").write_bytes(_initrd(filesystem, release, controller, work / "rootfs"))
        (work / "grow").write_text(_GROW)
        (work / "grow.conf").write_text(_GROW_UNIT)
        _debugfs(
            filesystem,
            [
                f"stat /boot/vmlinuz-{release}",
                f"write {work / 'initrd.img'} {INITRD}",
                f"write {work / 'grow'} {GROW_SCRIPT}",
                f"set_inode_field {GROW_SCRIPT} mode 0100755",
                f"write {work / 'grow.conf'} {GROW_DROPIN}",
                *(
                    f"set_inode_field {path} {field} 0"
                    for path in (INITRD, GROW_SCRIPT, GROW_DROPIN)
                    for field in ("uid", "gid")
                ),
            ],
            write=True,
        )
        core = _grub_core(work, release, controller)
    _write_mbr(target, core, size // SECTOR)


def _initrd(filesystem: str, release: str, controller: Controller, rootfs: Path) -> bytes:
    """The busybox initrd of bootfiles.py with the controller's modules, from the image's own files."""
    modules = rootfs / "lib/modules" / release
    modules.mkdir(parents=True)
    (rootfs / "bin").mkdir()
    _debugfs(
        filesystem,
        [
            f"dump /lib/modules/{release}/modules.dep {modules / 'modules.dep'}",
            f"dump /usr/bin/busybox {rootfs / 'bin/busybox'}",
        ],
    )
    try:
        needed = bootfiles.load_order(modules, list(controller.modules))
    except bootfiles.BootFilesError as e:
        raise ImageError(
            f"the guest image cannot boot from this VM's disk controller ({e}; images built by older versions "
            f"of machine lack it): rebuild it with `machine image build`"
        ) from None
    for module in needed:
        (modules / module).parent.mkdir(parents=True, exist_ok=True)
    _debugfs(filesystem, [f"dump /lib/modules/{release}/{module} {modules / module}" for module in needed])
    return bootfiles.initrd(rootfs, release, controller.modules)


def _grub_core(work: Path, release: str, controller: Controller) -> bytes:
    """GRUB's core image with an embedded configuration that boots the kernel on the first partition."""
    (work / "early.cfg").write_text(
        f"set root=(hd0,msdos1)\nlinux /boot/vmlinuz-{release} {kernel_args(controller)}\ninitrd {INITRD}\nboot\n"
    )
    output = ["-O", "i386-pc", "-d", str(GRUB_DIR), "-o", str(work / "core.img")]
    config = ["-c", str(work / "early.cfg"), "-p", "(hd0,msdos1)/boot/grub"]
    _run("grub-mkimage", ["grub-mkimage", *output, *config, *GRUB_MODULES])
    core = (work / "core.img").read_bytes()
    if len(core) > (PARTITION_START - 1) * SECTOR:
        raise ImageError(f"GRUB's core image ({len(core)} bytes) does not fit before the partition")
    return core


def _write_mbr(target: Path, core: bytes, sectors: int) -> None:
    """GRUB's boot code, one bootable Linux partition from PARTITION_START to the end, GRUB's core after it."""
    boot = (GRUB_DIR / "boot.img").read_bytes()
    length = min(sectors - PARTITION_START, 0xFFFFFFFF)
    entry = struct.pack("<B3sB3sII", 0x80, b"\xff\xff\xff", 0x83, b"\xff\xff\xff", PARTITION_START, length)
    with open(target, "r+b") as disk:
        disk.write(boot[:440] + b"\0" * 6 + entry + b"\0" * 48 + b"\x55\xaa")
        disk.write(core)


def _virtual_size(path: Path) -> int:
    result = subprocess.run(
        ["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise ImageError(f"cannot read {path}: {result.stderr.strip()}")
    return int(json.loads(result.stdout)["virtual-size"])


def _debugfs(filesystem: str, commands: list[str], write: bool = False) -> None:
    """Run debugfs commands on the filesystem; debugfs exits 0 whatever happens, so any message on stderr
    other than its banner is the failure."""
    result = subprocess.run(
        ["debugfs", *(["-w"] if write else []), "-f", "-", filesystem],
        input="\n".join(commands) + "\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("debugfs ")]
    if result.returncode != 0 or errors:
        raise ImageError(f"editing the image's filesystem failed: {' / '.join(errors[-4:]) or result.returncode}")


def _run(step: str, command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-4:]
        raise ImageError(f"{step} failed: {' / '.join(detail)}")
