"""The fast-boot files: module load order from modules.dep, the initrd archive, the kernel extraction."""

from __future__ import annotations

import lzma
import shutil
import subprocess
from pathlib import Path

import pytest

from machine.vm import bootfiles

DEP = """kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
"""


def fake_rootfs(root: Path) -> Path:
    modules = root / "lib/modules/6.1.0-test"
    for line in DEP.splitlines():
        module = modules / line.split(":")[0]
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_bytes(b"\x7fELF module " + module.name.encode())
    (modules / "modules.dep").write_text(DEP)
    (root / "bin").mkdir()
    (root / "bin/busybox").write_bytes(b"\x7fELF busybox")
    return root


def test_modules_load_after_their_dependencies(tmp_path: Path) -> None:
    order = bootfiles.load_order(fake_rootfs(tmp_path) / "lib/modules/6.1.0-test", bootfiles.MODULES)
    names = [Path(m).stem for m in order]
    assert len(names) == len(set(names)) == 9
    for module, needs in (
        ("virtio", "virtio_ring"),
        ("virtio_pci", "virtio"),
        ("virtio_blk", "virtio"),
        ("ext4", "jbd2"),
        ("ext4", "mbcache"),
        ("ext4", "crc16"),
    ):
        assert names.index(needs) < names.index(module)


def test_missing_module_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(bootfiles.BootFilesError, match="no module nosuch"):
        bootfiles.load_order(fake_rootfs(tmp_path) / "lib/modules/6.1.0-test", ["nosuch"])


def test_initrd_is_a_newc_archive_the_kernel_and_cpio_read(tmp_path: Path) -> None:
    if not shutil.which("busybox"):
        pytest.skip("busybox is not installed (tests/run installs busybox-static)")
    archive = bootfiles.initrd(fake_rootfs(tmp_path / "root"), "6.1.0-test")
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["busybox", "cpio", "-i", "-d"], input=archive, cwd=out, check=True, capture_output=True)
    assert (out / "init").read_text() == bootfiles.INIT and (out / "init").stat().st_mode & 0o111
    assert (out / "bin/busybox").read_bytes() == b"\x7fELF busybox"
    loaded = sorted(p.name for p in (out / "lib/modules").iterdir())
    assert loaded[0].startswith("00-") and len(loaded) == 9
    assert "LABEL=" + bootfiles.SEED_LABEL in bootfiles.INIT


def test_vmlinux_is_found_inside_the_compressed_kernel(tmp_path: Path) -> None:
    elf = b"\x7fELF" + bytes(range(256)) * 64
    (tmp_path / "vmlinuz").write_bytes(b"MZ setup code \xfd7zXZ\x00 not a stream " + lzma.compress(elf) + b"tail")
    assert bootfiles.extract_vmlinux(tmp_path / "vmlinuz") == elf
    (tmp_path / "plain").write_bytes(b"MZ nothing here")
    with pytest.raises(bootfiles.BootFilesError, match="no xz-compressed ELF kernel"):
        bootfiles.extract_vmlinux(tmp_path / "plain")
