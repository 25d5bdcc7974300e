"""The files of a fast direct kernel boot: an uncompressed kernel and a tiny busybox initrd.

qemu boots an uncompressed ELF `vmlinux` through its PVH entry point, which skips the guest's own
decompression (seconds under TCG). Debian's kernel has virtio and ext4 as modules, so the initrd
holds busybox (static), those modules and an /init that loads them, mounts the root disk, installs
the machine's seed (SSH host keys, the user's key, hostname) and hands over to systemd: 5 MB instead
of Debian's 36 MB initramfs with udev (see ../shared/FINDINGS.md).
"""

from __future__ import annotations

import lzma
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .keys import HostKeys

# With their dependencies (from modules.dep); crc32c is what ext4 and jbd2 ask the crypto API for.
MODULES = ["virtio_pci", "virtio_blk", "crc32c_generic", "ext4"]

SEED_LABEL = "machine-seed"
ROOT_LABEL = "machine-root"  # the guest image's root filesystem
KERNEL_ARGS = "root=/dev/vda console=ttyS0 quiet cryptomgr.notests systemd.show_status=0"

INIT = (
    r"""#!/bin/busybox sh
# Load the disk and filesystem modules, mount root=, install the machine's seed, hand over to systemd.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
for m in /lib/modules/*.ko; do insmod "$m"; done
root=/dev/vda
for arg in $(cat /proc/cmdline); do case "$arg" in root=*) root="${arg#root=}";; esac; done
# root= is a device or LABEL=NAME: SATA disks are named in the order they are probed, which varies.
# At least 60 s: under TCG on a loaded host a SATA controller took more than 5 s to show its disk.
tries=0
until case "$root" in LABEL=*) device=$(findfs "$root" 2>/dev/null);; *) device=$root;; esac; [ -b "$device" ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 6000 ] || { echo "initrd: no root device $root"; exec sh; }
    sleep 0.01
done
mount -t ext4 -o rw,noatime "$device" /root || { echo "initrd: cannot mount $root"; exec sh; }
# The seed disk (see write_seed): this machine's SSH host keys, the user's key, the hostname.
tries=0
until seed=$(findfs LABEL="""
    + SEED_LABEL
    + """ 2>/dev/null) || [ "$tries" -ge 50 ]; do
    tries=$((tries + 1)); sleep 0.01
done
if [ -n "$seed" ] && mount -t ext4 -o ro "$seed" /seed; then
    mkdir -p -m 700 /root/root/.ssh
    cp /seed/authorized_keys /seed/ssh_host_*_key /seed/ssh_host_*_key.pub /root/root/.ssh/
    chmod 600 /root/root/.ssh/*
    mv /root/root/.ssh/ssh_host_* /root/etc/ssh/
    chmod 644 /root/etc/ssh/ssh_host_*.pub
    [ -f /seed/hostname ] && cp /seed/hostname /root/etc/hostname
    umount /seed
fi
umount /proc
mount --move /dev /root/dev
exec switch_root /root /sbin/init "$@"
"""
)


class BootFilesError(Exception):
    """The kernel or the modules are not what the fast boot needs."""


def extract_vmlinux(vmlinuz: Path) -> bytes:
    """The uncompressed ELF kernel inside a bzImage compressed with xz (Debian's)."""
    data = vmlinuz.read_bytes()
    start = data.find(b"\xfd7zXZ\x00")
    while start != -1:
        try:
            kernel = lzma.LZMADecompressor().decompress(data[start:])
        except lzma.LZMAError:
            kernel = b""
        if kernel.startswith(b"\x7fELF"):
            return kernel
        start = data.find(b"\xfd7zXZ\x00", start + 1)
    raise BootFilesError(f"{vmlinuz.name} holds no xz-compressed ELF kernel")


def initrd(rootfs: Path, kernel_release: str, modules: Sequence[str] = tuple(MODULES)) -> bytes:
    """A newc cpio archive: busybox, the boot `modules` of `kernel_release` (with what they need) and /init."""
    modules_dir = rootfs / "lib/modules" / kernel_release
    archive = _Cpio()
    for folder in ("bin", "dev", "proc", "root", "seed", "lib", "lib/modules"):
        archive.add(folder, stat.S_IFDIR | 0o755)
    archive.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    archive.add("bin/busybox", stat.S_IFREG | 0o755, (rootfs / "bin/busybox").read_bytes())
    archive.add("init", stat.S_IFREG | 0o755, INIT.encode())
    for index, module in enumerate(load_order(modules_dir, list(modules))):
        archive.add(
            f"lib/modules/{index:02d}-{Path(module).name}", stat.S_IFREG | 0o644, (modules_dir / module).read_bytes()
        )
    return archive.finish()


def load_order(modules_dir: Path, names: list[str]) -> list[str]:
    """The modules.dep paths of `names` and everything they need, each after its dependencies."""
    try:
        lines = (modules_dir / "modules.dep").read_text().splitlines()
    except OSError as e:
        raise BootFilesError(f"cannot read the kernel's module list: {e}") from None
    deps = {module: rest.split() for module, _, rest in (line.partition(":") for line in lines)}
    by_name = {Path(module).name[: -len(".ko")].replace("-", "_"): module for module in deps}
    order: list[str] = []

    def visit(module: str) -> None:
        if module not in order:
            for dependency in deps[module]:
                visit(dependency)
            order.append(module)

    for name in names:
        if name not in by_name:
            raise BootFilesError(f"the kernel has no module {name}")
        visit(by_name[name])
    return order


class _Cpio:
    """Writes the "newc" cpio format the kernel unpacks into its initramfs."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.inode = 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = [self.inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0]
        self.inode += 1
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        self.parts += [header, encoded, _pad(len(header) + len(encoded)), data, _pad(len(data))]

    def finish(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return b"".join(self.parts)


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def write_seed(path: Path, hostname: str, authorized_key: str, host_keys: HostKeys) -> None:
    """The machine's seed disk (an ext4 image labelled SEED_LABEL that /init installs): its SSH host keys,
    the user's key and the hostname."""
    folder = Path(tempfile.mkdtemp(prefix="seed-"))
    try:
        (folder / "hostname").write_text(hostname + "\n")
        (folder / "authorized_keys").write_text(authorized_key + "\n")
        for kind, (private, public) in host_keys.items():
            (folder / f"ssh_host_{kind}_key").write_bytes(private)
            (folder / f"ssh_host_{kind}_key").chmod(0o600)
            (folder / f"ssh_host_{kind}_key.pub").write_text(public + "\n")
        path.unlink(missing_ok=True)
        made = subprocess.run(
            ["mke2fs", "-q", "-t", "ext4", "-L", SEED_LABEL, "-d", str(folder), str(path), "4M"],
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise BootFilesError(f"making the seed disk failed: {made.stderr.strip()}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
