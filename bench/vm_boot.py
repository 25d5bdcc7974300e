#!/usr/bin/env python3
"""VM boot: `machine create` and `machine start` against a raw qemu boot of the same image, in one run (root).

Needs libvirtd running and the guest image cached (`machine image build`). The raw boot is plain qemu
(same accelerator, kernel, initrd, disk overlay and seed disk, user networking) timed until sshd
answers; `machine create` is timed until the agent answers; `machine start` of a stopped machine
until the agent answers again. Usage: python3 bench/vm_boot.py [--accel tcg|kvm] [--store PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine import guestimage, ssh  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_boot(image: Path, work: Path, accel: str, memory: int) -> float:
    """Seconds from starting qemu to an SSH banner from the guest."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(image / "disk.qcow2"), "-F", "qcow2",
                    str(work / "raw.qcow2")], check=True)
    ssh.generate_key(work / "host_key", "bench")
    public = " ".join((work / "host_key.pub").read_text().split()[:2])
    ssh.generate_key(work / "user_key", "bench")
    guestimage.write_seed(work / "seed.img", "bench", (work / "user_key.pub").read_text().strip(),
                          {"ed25519": ((work / "host_key").read_bytes(), public)})
    port = free_port()
    serial = work / "serial.log"
    start = time.monotonic()
    qemu = subprocess.Popen([
        "qemu-system-x86_64", "-accel", accel, "-m", str(memory), "-smp", "1", "-nographic", "-nodefaults",
        "-kernel", str(image / "vmlinux"), "-initrd", str(image / "initrd.img"), "-append", guestimage.KERNEL_ARGS,
        "-drive", f"file={work / 'raw.qcow2'},if=virtio,cache=unsafe",
        "-drive", f"file={work / 'seed.img'},if=virtio,format=raw,readonly=on",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device", "virtio-net-pci,netdev=n0,romfile=",
        "-serial", f"file:{serial}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - start < 300:
            if "login:" in serial.read_text(errors="replace") if serial.exists() else False:
                break  # the guest is up: only now poll through slirp (early polls stall, see FINDINGS)
            time.sleep(0.05)
        while time.monotonic() - start < 300:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.settimeout(2)
                    if s.recv(4) == b"SSH-":
                        return time.monotonic() - start
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the raw VM did not answer SSH within 300 s")
    finally:
        qemu.kill()
        qemu.wait()


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accel", default="tcg", choices=["tcg", "kvm"])
    parser.add_argument("--memory", type=int, default=1024)
    parser.add_argument("--store", default=os.environ.get("MACHINE_STORAGE_PATH", "/var/cache/machine-test"))
    args = parser.parse_args()
    env = dict(os.environ, MACHINE_STORAGE_PATH=args.store)
    machine = [sys.executable, "-m", "machine"]
    build = 0.0
    if not (Path(args.store) / "cache/images/debian-12/manifest.json").exists():
        build = timed([*machine, "image", "build"], env)
    manifest = json.loads((Path(args.store) / "cache/images/debian-12/manifest.json").read_text())
    image = Path(args.store) / "cache/images/debian-12"
    work = Path(tempfile.mkdtemp(prefix="bench-vm-"))
    name = f"bench-{os.getpid()}"
    rows = []
    try:
        raw = raw_boot(image, work, args.accel, args.memory)
        create = timed([*machine, "create", "-d", "libvirt", "--libvirt-accel", args.accel, "--libvirt-memory",
                        str(args.memory), name], env)
        timed([*machine, "stop", name], env)
        start = timed([*machine, "start", name], env)
        rows = [("raw qemu boot to SSH banner", raw, ""),
                ("machine create to agent ready", create, f"raw + {create - raw:.1f} s (goal: raw + 2 s)"),
                ("machine start to agent ready", start, f"raw + {start - raw:.1f} s (goal: raw + 1 s)")]
    finally:
        subprocess.run([*machine, "rm", "-f", "-y", name], env=env, capture_output=True)
        subprocess.run(["rm", "-rf", str(work)])
    size = sum(f["size"] for f in manifest["files"].values()) / 1e6
    print(f"image: built in {manifest.get('build_seconds', build):.0f} s, {size:.0f} MB "
          f"(disk.qcow2 {manifest['files']['disk.qcow2']['size'] / 1e6:.0f} MB); accelerator {args.accel}")
    for label, seconds, note in rows:
        print(f"{label:<32} {seconds:6.1f} s   {note}")


if __name__ == "__main__":
    main()
