"""The guest image: Debian bookworm built locally from Debian's packages, booted by direct kernel boot.

`build(cache)` runs mmdebstrap with the kernel, systemd, openssh-server, python3 and the agent's runtime
packages, tunes the boot (unneeded units masked, DHCP by systemd-networkd), removes the SSH host keys
(every machine gets its own), and writes into the image cache (images.py) as `<name>/`:
  disk.qcow2 (a partition-less ext4 root), vmlinux (the uncompressed kernel, booted through its PVH
  entry), initrd.img (busybox and the boot modules, see bootfiles.py), manifest.json (contents, time, sha256).

The agent of this version is preinstalled as an enabled service (provisioning replaces it when it
differs). Machines never write to it: each gets a qcow2 overlay, plus a tiny "seed" disk (ext4 labelled
machine-seed) whose files the initrd installs before systemd starts: the machine's SSH host keys, the
user's authorized key and the hostname.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import agent
from ..progress import ticking
from . import bootfiles
from .images import ImageCache, ImageError, write_manifest

DEFAULT = "debian-12"
SUITE = "bookworm"
PACKAGES = [
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "dbus",
    "openssh-server",
    "python3",
    "crun",
    "runc",
    "conmon",
    "iproute2",
    "nftables",
    "iptables",
    "ca-certificates",
    "e2fsprogs",
    "kmod",
    "busybox-static",
    "sshfs",
]
MASKED = [
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "man-db.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "e2scrub_reap.service",
    "systemd-timesyncd.service",
    "getty@tty1.service",
    "ssh-keygen.service",
    "systemd-journal-flush.service",
    "systemd-update-utmp.service",
    "logrotate.timer",
    "dpkg-db-backup.timer",
    "systemd-random-seed.service",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "systemd-pstore.service",
    "dev-hugepages.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-kernel-config.mount",
    "sys-fs-fuse-connections.mount",
    "modprobe@drm.service",
    "modprobe@efi_pstore.service",
    "modprobe@configfs.service",
    "modprobe@loop.service",
    "modprobe@dm_mod.service",
    "modprobe@fuse.service",
    "systemd-sysusers.service",  # the image's system users were made as it was built, and it never gains packages
]
# Generators run at every boot before any unit starts (0.6 s of it under TCG, one process each): only the one
# for /etc/fstab has something to read here. The console is a log file, so no getty on it either.
MASKED_GENERATORS = [
    "systemd-cryptsetup-generator",
    "systemd-debug-generator",
    "systemd-getty-generator",
    "systemd-gpt-auto-generator",
    "systemd-hibernate-resume-generator",
    "systemd-integritysetup-generator",
    "systemd-rc-local-generator",
    "systemd-run-generator",
    "systemd-system-update-generator",
    "systemd-sysv-generator",
    "systemd-veritysetup-generator",
]
# Kernel modules a container host in a VM never loads (hardware it does not have): ~270 MB, and udev
# spends boot time loading some of them. BLACKLISTED ones match the emulated PC's own devices.
UNUSED_MODULES = [
    "sound",
    "arch/x86/kvm",
    "drivers/gpu",
    "drivers/media",
    "drivers/net/wireless",
    "drivers/net/ethernet",
    "drivers/net/usb",
    "drivers/infiniband",
    "drivers/usb",
    "drivers/iio",
    "drivers/staging",
    "drivers/scsi",
    "drivers/ata",
    "drivers/hwmon",
    "drivers/comedi",
    "drivers/isdn",
    "drivers/mtd",
    "drivers/target",
    "drivers/hid",
    "drivers/platform",
    "drivers/mmc",
    "drivers/bluetooth",
    "drivers/video",
    "drivers/nvme",
    "net/wireless",
    "net/mac80211",
    "net/bluetooth",
]
# ...except the disk controller drivers of other hypervisors' virtual hardware: a Vagrant box for VirtualBox
# boots from an AHCI (SATA) disk (see bootdisk.py)
KEPT_MODULES = [
    "drivers/ata/ahci.ko",
    "drivers/ata/libahci.ko",
    "drivers/ata/libata.ko",
    "drivers/scsi/sd_mod.ko",
    "drivers/scsi/scsi_mod.ko",
    "drivers/scsi/scsi_common.ko",
]
BLACKLISTED = ["floppy", "pcspkr", "psmouse", "serio_raw", "i2c_piix4", "qemu_fw_cfg"]
FILES = ("disk.qcow2", "vmlinux", "initrd.img")

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
# without them competing for the CPU. They start as the machine's first login comes, which they slowed too: at
# nice 10 (as the agent opening its engine, see guest/__main__.py) the login took 0.62-0.75 s at boot under TCG,
# 1.35-1.48 s beside them at nice 0.
_AFTER_READY = """[Unit]
After=ssh.service machine-agent.service

[Service]
Nice=10
"""
LATE_UNITS = ["dbus.service", "systemd-logind.service", "machine-grow.service"]

# udev's coldplug replays every device the kernel found (458 events: 4 s of udevd's CPU at boot under TCG, besides
# systemd's own work on them): 71 ttys, 55 ACPI nodes, 21 virtual consoles, ... A container host needs udev for its
# disks, its network links, its input devices (logind's power button: ACPI shutdown), and the modules of its virtio
# and PCI devices; the ACPI button's module, found through an ACPI node, is loaded outright. Devices that appear
# later are handled by udev as always.
_COLDPLUG = """[Service]
ExecStart=
ExecStart=-udevadm trigger --type=devices --action=add --subsystem-match=block --subsystem-match=net \\
  --subsystem-match=input --subsystem-match=virtio --subsystem-match=pci --subsystem-match=misc
"""
_MODULES = "button\n"

# sshd checks its configuration as it starts: the unit's separate check (`sshd -t`, one more sshd start, 0.3 s of
# CPU at boot under TCG) only delayed the moment it listens
_SSH = """[Service]
ExecStartPre=
"""

_NETWORK = """[Match]
Name=en* eth*

[Network]
DHCP=ipv4

[DHCPv4]
UseDomains=true
# the seed names the host: asking hostnamed (started over D-Bus) to rename it only costs boot time
UseHostname=false
"""


def _run(step: str, command: list[str], **kwargs: object) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-6:]
        raise ImageError(f"{step} failed: {' / '.join(detail)}")


def _missing_tools() -> list[str]:
    tools = {"mmdebstrap": "mmdebstrap", "mke2fs": "e2fsprogs", "qemu-img": "qemu-utils"}
    return sorted({pkg for tool, pkg in tools.items() if not shutil.which(tool)})


def ensure(cache: ImageCache, progress: Progress, name: str = DEFAULT) -> Path:
    """The cached image folder, built first if missing (or made by an older version, without today's files)."""
    if cache.manifest(name) is None:
        build(cache, progress, name)
    elif not current(cache, name):
        progress(f"The cached image {name} is from an older version of machine: rebuilding it")
        build(cache, progress, name)
    return cache.folder(name)


def current(cache: ImageCache, name: str = DEFAULT) -> bool:
    """Whether the cached image has today's files and PACKAGES (sshfs came with shared folders)."""
    manifest = cache.manifest(name) or {}
    installed = {entry.split(" ", 1)[0] for entry in manifest.get("packages", []) if isinstance(entry, str)}
    return set(PACKAGES) <= installed and all((cache.folder(name) / file).exists() for file in FILES)


def build(cache: ImageCache, progress: Progress, name: str = DEFAULT, size: str = "2G") -> dict[str, Any]:
    """Build the image from Debian's packages (needs root and network access to a Debian mirror)."""
    missing = _missing_tools()
    if missing:
        raise ImageError(
            f"building the guest image needs {', '.join(missing)}: sudo apt-get install {' '.join(missing)}"
        )
    if os.geteuid() != 0:
        raise ImageError("building the guest image needs root (mmdebstrap, device nodes): run it with sudo")
    started = time.monotonic()
    with cache.replacing(name) as work:
        rootfs = work / "rootfs"
        progress(f"Building the guest image {name} (Debian {SUITE}) from Debian's packages; this takes a minute or two")
        with ticking(progress, f"[1/3] Installing {len(PACKAGES)} packages and their dependencies (mmdebstrap)"):
            _run(
                "mmdebstrap",
                [
                    "mmdebstrap",
                    "--variant=apt",
                    "--quiet",
                    f"--include={','.join(PACKAGES)}",
                    "--dpkgopt=path-exclude=/usr/share/{doc,man,locale}/*",
                    SUITE,
                    str(rootfs),
                ],
            )
        kernel = max((rootfs / "boot").glob("vmlinuz-*"), key=lambda p: p.name)
        release = kernel.name[len("vmlinuz-") :]
        progress("[2/3] Tuning the image for a fast boot")
        _customize(rootfs, release)
        try:
            (work / "vmlinux").write_bytes(bootfiles.extract_vmlinux(kernel))
            (work / "initrd.img").write_bytes(bootfiles.initrd(rootfs, release))
        except bootfiles.BootFilesError as e:
            raise ImageError(f"preparing the fast boot failed: {e}") from None
        progress("[3/3] Writing the disk")
        raw = work / "disk.raw"
        _run("mke2fs", ["mke2fs", "-q", "-t", "ext4", "-L", bootfiles.ROOT_LABEL, "-d", str(rootfs), str(raw), size])
        _run("qemu-img convert", ["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "disk.qcow2")])
        raw.unlink()
        packages = subprocess.run(
            ["chroot", str(rootfs), "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"],
            capture_output=True,
            text=True,
        ).stdout.split("\n")
        shutil.rmtree(rootfs)
        info = write_manifest(
            work,
            {
                "name": name,
                "suite": SUITE,
                "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build_seconds": round(time.monotonic() - started, 1),
                "kernel": release,
                "packages": [p for p in packages if p],
                "agent": agent.fingerprint(agent.AgentLocation(), agent.build()),  # installed and enabled
            },
            FILES,
        )
    size_mb = sum(f["size"] for f in info["files"].values()) / 1e6
    progress(f"Image {name} ready in {info['build_seconds']:.0f}s ({size_mb:.0f} MB)")
    return info


def _customize(rootfs: Path, release: str) -> None:
    (rootfs / "etc/fstab").write_text(f"LABEL={bootfiles.ROOT_LABEL} / ext4 defaults,noatime 0 1\n")
    (rootfs / "etc/hostname").write_text("machine\n")
    (rootfs / "etc/systemd/network/80-dhcp.network").write_text(_NETWORK)
    (rootfs / "etc/systemd/system/machine-grow.service").write_text(_GROW_SERVICE)
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (rootfs / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
    # without PAM a connection skips the session modules (logind among them, not up early in the boot):
    # every machine command is ~0.15 s faster under TCG
    (rootfs / "etc/ssh/sshd_config.d/machine.conf").write_text(
        "PasswordAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\nUsePAM no\n"
    )
    # this version's agent, preinstalled as an enabled service: a new machine's agent is up when
    # provisioning checks it (provisioning still replaces it when it differs)
    try:
        agent.install(rootfs, agent.AgentLocation())
    except subprocess.CalledProcessError as e:
        raise ImageError(f"installing the agent failed: {e.stderr.decode(errors='replace').strip()}") from None
    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    for unit, target in (
        ("machine-grow.service", "/etc/systemd/system/machine-grow.service"),
        ("systemd-networkd.service", "/lib/systemd/system/systemd-networkd.service"),
    ):
        link = wants / unit
        if not link.exists():
            link.symlink_to(target)
    drop_ins = [(unit, "after-ready.conf", _AFTER_READY) for unit in LATE_UNITS]
    drop_ins += [("systemd-udev-trigger.service", "machine.conf", _COLDPLUG), ("ssh.service", "machine.conf", _SSH)]
    for unit, name, text in drop_ins:
        (rootfs / f"etc/systemd/system/{unit}.d").mkdir(exist_ok=True)
        (rootfs / f"etc/systemd/system/{unit}.d/{name}").write_text(text)
    (rootfs / "etc/modules-load.d/machine.conf").write_text(_MODULES)
    (rootfs / "etc/systemd/system-generators").mkdir(exist_ok=True)
    for mask in [rootfs / "etc/systemd/system" / unit for unit in MASKED] + [
        rootfs / "etc/systemd/system-generators" / generator for generator in MASKED_GENERATORS
    ]:
        mask.unlink(missing_ok=True)
        mask.symlink_to("/dev/null")
    modules = rootfs / "lib/modules" / release / "kernel"
    kept = {module: (modules / module).read_bytes() for module in KEPT_MODULES if (modules / module).exists()}
    for folder in UNUSED_MODULES:
        shutil.rmtree(modules / folder, ignore_errors=True)
    for module, data in kept.items():
        (modules / module).parent.mkdir(parents=True, exist_ok=True)
        (modules / module).write_bytes(data)
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
