"""The guest image: Debian bookworm built locally from Debian's packages, booted by direct kernel boot.

`build()` runs mmdebstrap with the kernel, systemd, openssh-server, python3 and the agent's runtime
packages, tunes the boot (unneeded units masked, DHCP by systemd-networkd), removes the SSH host keys
(every machine gets its own), and writes under `<store>/cache/images/<name>/`:
  disk.qcow2 (a partition-less ext4 root), vmlinux (the uncompressed kernel, booted through its PVH
  entry), initrd.img (busybox and the boot modules, see bootfiles.py), manifest.json (contents, time, sha256).

The agent of this version is preinstalled as an enabled service (provisioning replaces it when it
differs). Machines never write to it: each gets a qcow2 overlay, plus a tiny "seed" disk (ext4 labelled
machine-seed) whose files the initrd installs before systemd starts: the machine's SSH host keys, the
user's authorized key and the hostname.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from . import bootfiles, paths, provision

DEFAULT = "debian-12"
SUITE = "bookworm"
PACKAGES = ["linux-image-amd64", "systemd-sysv", "udev", "dbus", "openssh-server", "python3", "crun", "runc", "conmon",
            "iproute2", "nftables", "iptables", "ca-certificates", "e2fsprogs", "kmod", "busybox-static"]
MASKED = ["apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer", "e2scrub_all.timer", "fstrim.timer",
          "e2scrub_reap.service", "systemd-timesyncd.service", "getty@tty1.service", "ssh-keygen.service",
          "systemd-journal-flush.service", "systemd-update-utmp.service", "logrotate.timer", "dpkg-db-backup.timer",
          "systemd-random-seed.service", "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount",
          "systemd-pstore.service", "dev-hugepages.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
          "sys-kernel-config.mount", "sys-fs-fuse-connections.mount", "modprobe@drm.service",
          "modprobe@efi_pstore.service", "modprobe@configfs.service", "modprobe@loop.service",
          "modprobe@dm_mod.service", "modprobe@fuse.service"]
# Kernel modules a container host in a VM never loads (hardware it does not have): ~270 MB, and udev
# spends boot time loading some of them. BLACKLISTED ones match the emulated PC's own devices.
UNUSED_MODULES = ["sound", "arch/x86/kvm", "drivers/gpu", "drivers/media", "drivers/net/wireless",
                  "drivers/net/ethernet", "drivers/net/usb", "drivers/infiniband", "drivers/usb", "drivers/iio",
                  "drivers/staging", "drivers/scsi", "drivers/ata", "drivers/hwmon", "drivers/comedi", "drivers/isdn",
                  "drivers/mtd", "drivers/target", "drivers/hid", "drivers/platform", "drivers/mmc",
                  "drivers/bluetooth", "drivers/video", "drivers/nvme", "net/wireless", "net/mac80211", "net/bluetooth"]
BLACKLISTED = ["floppy", "pcspkr", "psmouse", "serio_raw", "i2c_piix4", "qemu_fw_cfg"]
FILES = ("disk.qcow2", "vmlinux", "initrd.img")
KERNEL_ARGS = "root=/dev/vda console=ttyS0 quiet cryptomgr.notests systemd.show_status=0"

Progress = Callable[[str], None]

_GROW_SERVICE = """[Unit]
Description=Grow the root filesystem to the size of the machine's disk

[Service]
Type=oneshot
ExecStart=/sbin/resize2fs /dev/vda

[Install]
WantedBy=multi-user.target
"""

# Started once sshd and the agent are up (the agent tells systemd when it serves): the boot is faster
# without them competing for the CPU.
_AFTER_READY = """[Unit]
After=ssh.service machine-agent.service
"""
LATE_UNITS = ["dbus.service", "systemd-logind.service", "machine-grow.service"]

_NETWORK = """[Match]
Name=en* eth*

[Network]
DHCP=ipv4

[DHCPv4]
UseDomains=true
# the seed names the host: asking hostnamed (started over D-Bus) to rename it only costs boot time
UseHostname=false
"""


class ImageError(Exception):
    """Building or finding the guest image failed; the message says what to do."""


def images_dir() -> Path:
    return paths.cache_dir() / "images"


def image_dir(name: str = DEFAULT) -> Path:
    return images_dir() / name


def manifest(name: str = DEFAULT) -> Optional[dict]:
    try:
        return json.loads((image_dir(name) / "manifest.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


def list_images() -> list[dict]:
    if not images_dir().is_dir():
        return []
    return [m for m in (manifest(p.name) for p in sorted(images_dir().iterdir())) if m]


def remove(name: str) -> None:
    if not image_dir(name).exists():
        raise ImageError(f"no image {name!r}: see `machine image ls`")
    shutil.rmtree(image_dir(name))


def _run(step: str, command: list[str], **kwargs: object) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-6:]
        raise ImageError(f"{step} failed: {' / '.join(detail)}")


def _missing_tools() -> list[str]:
    tools = {"mmdebstrap": "mmdebstrap", "mke2fs": "e2fsprogs", "qemu-img": "qemu-utils"}
    return sorted({pkg for tool, pkg in tools.items() if not shutil.which(tool)})


def ensure(progress: Progress, name: str = DEFAULT) -> Path:
    """The cached image folder, built first if missing (or made by an older version, without today's files)."""
    if manifest(name) is None:
        build(progress, name)
    elif not all((image_dir(name) / file).exists() for file in FILES):
        progress(f"The cached image {name} is from an older version of machine: rebuilding it")
        build(progress, name)
    return image_dir(name)


def build(progress: Progress, name: str = DEFAULT, size: str = "2G") -> dict:
    """Build the image from Debian's packages (needs root and network access to a Debian mirror)."""
    missing = _missing_tools()
    if missing:
        raise ImageError(f"building the guest image needs {', '.join(missing)}: "
                         f"sudo apt-get install {' '.join(missing)}")
    if os.geteuid() != 0:
        raise ImageError("building the guest image needs root (mmdebstrap, device nodes): run it with sudo")
    target = image_dir(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    started = time.monotonic()
    try:
        rootfs = work / "rootfs"
        progress(f"Building the guest image {name} (Debian {SUITE}) from Debian's packages; this takes a minute or two")
        _run("mmdebstrap", ["mmdebstrap", "--variant=apt", "--quiet", f"--include={','.join(PACKAGES)}",
                            "--dpkgopt=path-exclude=/usr/share/{doc,man,locale}/*",
                            SUITE, str(rootfs)])
        kernel = max((rootfs / "boot").glob("vmlinuz-*"), key=lambda p: p.name)
        release = kernel.name[len("vmlinuz-"):]
        progress("Tuning the image for a fast boot")
        _customize(rootfs, release)
        try:
            (work / "vmlinux").write_bytes(bootfiles.extract_vmlinux(kernel))
            (work / "initrd.img").write_bytes(bootfiles.initrd(rootfs, release))
        except bootfiles.BootFilesError as e:
            raise ImageError(f"preparing the fast boot failed: {e}") from None
        progress("Writing the disk")
        raw = work / "disk.raw"
        _run("mke2fs", ["mke2fs", "-q", "-t", "ext4", "-L", "machine-root", "-d", str(rootfs), str(raw), size])
        _run("qemu-img convert", ["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "disk.qcow2")])
        raw.unlink()
        packages = subprocess.run(["chroot", str(rootfs), "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"],
                                  capture_output=True, text=True).stdout.split("\n")
        shutil.rmtree(rootfs)
        info = {"name": name, "suite": SUITE, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build_seconds": round(time.monotonic() - started, 1), "kernel": release,
                "packages": [p for p in packages if p], "files": {}}
        for file in FILES:
            info["files"][file] = {"sha256": _sha256(work / file), "size": (work / file).stat().st_size}
        (work / "manifest.json").write_text(json.dumps(info, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.rename(work, target)
        size_mb = sum(f["size"] for f in info["files"].values()) / 1e6
        progress(f"Image {name} ready in {info['build_seconds']:.0f}s ({size_mb:.0f} MB)")
        return info
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _customize(rootfs: Path, release: str) -> None:
    (rootfs / "etc/fstab").write_text("LABEL=machine-root / ext4 defaults,noatime 0 1\n")
    (rootfs / "etc/hostname").write_text("machine\n")
    (rootfs / "etc/systemd/network/80-dhcp.network").write_text(_NETWORK)
    (rootfs / "etc/systemd/system/machine-grow.service").write_text(_GROW_SERVICE)
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (rootfs / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
    # without PAM a connection skips the session modules (logind among them, not up early in the boot):
    # every machine command is ~0.15 s faster under TCG
    (rootfs / "etc/ssh/sshd_config.d/machine.conf").write_text(
        "PasswordAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\nUsePAM no\n")
    location = provision.AgentLocation()
    for path, (content, mode) in provision.preinstalled_files(location).items():
        (rootfs / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (rootfs / path.lstrip("/")).write_bytes(content)
        (rootfs / path.lstrip("/")).chmod(mode)
    _run("installing the agent", ["chroot", str(rootfs), "sh", "-c", location.unpack_command])
    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit, target in (("machine-grow.service", "/etc/systemd/system/machine-grow.service"),
                         ("machine-agent.service", "/etc/systemd/system/machine-agent.service"),
                         ("systemd-networkd.service", "/lib/systemd/system/systemd-networkd.service")):
        link = wants / unit
        if not link.exists():
            link.symlink_to(target)
    for unit in LATE_UNITS:
        (rootfs / f"etc/systemd/system/{unit}.d").mkdir(exist_ok=True)
        (rootfs / f"etc/systemd/system/{unit}.d/after-ready.conf").write_text(_AFTER_READY)
    for unit in MASKED:
        mask = rootfs / "etc/systemd/system" / unit
        mask.unlink(missing_ok=True)
        mask.symlink_to("/dev/null")
    for folder in UNUSED_MODULES:
        shutil.rmtree(rootfs / "lib/modules" / release / "kernel" / folder, ignore_errors=True)
    _run("depmod", ["chroot", str(rootfs), "depmod", "-a", release])
    (rootfs / "etc/modprobe.d/machine.conf").write_text("".join(f"blacklist {m}\n" for m in BLACKLISTED))
    for initramfs in (rootfs / "boot").glob("initrd.img*"):
        initramfs.unlink()  # the busybox initrd of bootfiles.py replaces Debian's
    (rootfs / "etc/resolv.conf").unlink(missing_ok=True)
    (rootfs / "etc/resolv.conf").write_text("nameserver 192.168.123.1\n")
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    for lists in (rootfs / "var/lib/apt/lists").glob("*_Packages"):
        lists.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def write_seed(path: Path, hostname: str, authorized_key: str, host_keys: dict[str, tuple[bytes, str]]) -> None:
    """The machine's seed disk: its SSH host keys (name -> (private PEM, public line)), the user's key, hostname."""
    folder = Path(tempfile.mkdtemp(prefix="seed-"))
    try:
        (folder / "hostname").write_text(hostname + "\n")
        (folder / "authorized_keys").write_text(authorized_key + "\n")
        for name, (private, public) in host_keys.items():
            (folder / f"ssh_host_{name}_key").write_bytes(private)
            (folder / f"ssh_host_{name}_key").chmod(0o600)
            (folder / f"ssh_host_{name}_key.pub").write_text(public + "\n")
        path.unlink(missing_ok=True)
        _run("making the seed disk", ["mke2fs", "-q", "-t", "ext4", "-L", bootfiles.SEED_LABEL, "-d", str(folder),
                                      str(path), "4M"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
