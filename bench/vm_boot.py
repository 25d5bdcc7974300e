#!/usr/bin/env python3
"""VM boot: `machine create` and `machine start` against a raw qemu boot of the same image, in one run (root).

Needs libvirtd running and the guest image cached (`machine image build`). The raw boot is plain qemu
(same accelerator, kernel, initrd, disk overlay, seed disk and virtio-rng; user networking) timed until sshd
answers; `machine create` is timed until the agent answers; `machine start` of a stopped machine
until the agent answers again. Each figure is the median of --rounds rounds (the raw boot is noisy).
Usage: python3 bench/vm_boot.py [--accel tcg|kvm] [--rounds N] [--store PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine.vm import bootfiles, keys  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_banner(port: int, start: float, limit: float = 300) -> float:
    """Seconds from `start` to the first SSH banner through slirp's forward.

    A probe made before the guest's NIC is up stalls in slirp for seconds (FINDINGS), so one probe at a
    time would see the banner late: a new probe starts every 0.1 s, each kept for 3 s, the first banner wins.
    """
    probes: dict[socket.socket, float] = {}
    next_probe = start
    try:
        while time.monotonic() - start < limit:
            now = time.monotonic()
            if now >= next_probe:
                probe = socket.socket()
                probe.setblocking(False)
                probe.connect_ex(("127.0.0.1", port))
                probes[probe] = now
                next_probe = now + 0.1
            for probe, opened in list(probes.items()):
                if now - opened > 3:
                    probe.close()
                    del probes[probe]
            readable, _, _ = select.select(list(probes), [], [], 0.02)
            for probe in readable:
                try:
                    data = probe.recv(4)
                except OSError:
                    data = b""
                if data == b"SSH-":
                    return time.monotonic() - start
                probe.close()
                del probes[probe]
        raise RuntimeError(f"the raw VM did not answer SSH within {limit:.0f} s")
    finally:
        for probe in probes:
            probe.close()


def raw_boot(image: Path, work: Path, accel: str, memory: int) -> float:
    """Seconds from starting qemu to an SSH banner from the guest."""
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            str(image / "disk.qcow2"),
            "-F",
            "qcow2",
            str(work / "raw.qcow2"),
        ],
        check=True,
    )
    keys.generate_key(work / "user_key", "bench")
    bootfiles.write_seed(work / "seed.img", "bench", (work / "user_key.pub").read_text().strip(), keys.host_keys())
    port = free_port()
    start = time.monotonic()
    qemu = subprocess.Popen(
        [
            "qemu-system-x86_64",
            "-accel",
            accel,
            "-m",
            str(memory),
            "-smp",
            "1",
            "-nographic",
            "-nodefaults",
            "-kernel",
            str(image / "vmlinux"),
            "-initrd",
            str(image / "initrd.img"),
            "-append",
            bootfiles.KERNEL_ARGS,
            "-drive",
            f"file={work / 'raw.qcow2'},if=virtio,cache=unsafe",
            "-drive",
            f"file={work / 'seed.img'},if=virtio,format=raw,readonly=on",
            "-netdev",
            f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
            "-device",
            "virtio-net-pci,netdev=n0,romfile=",
            "-device",
            "virtio-rng-pci",  # as the machines have: the guest's entropy comes in at once
            "-serial",
            f"file:{work / 'serial.log'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return time_to_banner(port, start)
    finally:
        qemu.kill()
        qemu.wait()


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    return time.monotonic() - start


def one_round(image: Path, machine: list[str], env: dict[str, str], args: argparse.Namespace) -> tuple[float, ...]:
    """(raw boot, create, start) seconds, the machine removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="bench-vm-"))
    name = f"bench-{os.getpid()}"
    try:
        raw = raw_boot(image, work, args.accel, args.memory)
        create = timed(
            [
                *machine,
                "create",
                "-d",
                "libvirt",
                "--libvirt-accel",
                args.accel,
                "--libvirt-memory",
                str(args.memory),
                name,
            ],
            env,
        )
        timed([*machine, "stop", name], env)
        start = timed([*machine, "start", name], env)
        return raw, create, start
    finally:
        subprocess.run([*machine, "rm", "-f", "-y", name], env=env, capture_output=True)
        subprocess.run(["rm", "-rf", str(work)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accel", default="tcg", choices=["tcg", "kvm"])
    parser.add_argument("--memory", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of raw boot, create, stop, start (medians)")
    parser.add_argument("--store", default=os.environ.get("MACHINE_STORAGE_PATH", "/var/cache/machine-test"))
    args = parser.parse_args()
    env = dict(os.environ, MACHINE_STORAGE_PATH=args.store)
    machine = [sys.executable, "-m", "machine"]
    build = 0.0
    if not (Path(args.store) / "cache/images/debian-12/manifest.json").exists():
        build = timed([*machine, "image", "build"], env)
    manifest = json.loads((Path(args.store) / "cache/images/debian-12/manifest.json").read_text())
    image = Path(args.store) / "cache/images/debian-12"
    rounds = [one_round(image, machine, env, args) for _ in range(args.rounds)]
    raw, create, start = (statistics.median(column) for column in zip(*rounds, strict=True))
    size = sum(f["size"] for f in manifest["files"].values()) / 1e6
    print(
        f"image: built in {manifest.get('build_seconds', build):.0f} s, {size:.0f} MB "
        f"(disk.qcow2 {manifest['files']['disk.qcow2']['size'] / 1e6:.0f} MB); accelerator {args.accel}; "
        f"median of {args.rounds} rounds (min-max)"
    )
    for label, column, seconds, note in (
        ("raw qemu boot to SSH banner", 0, raw, ""),
        ("machine create to agent ready", 1, create, f"raw + {create - raw:.1f} s (goal: raw + 2 s)"),
        ("machine start to agent ready", 2, start, f"raw + {start - raw:.1f} s (goal: raw + 1 s)"),
    ):
        values = [r[column] for r in rounds]
        print(f"{label:<32} {seconds:6.1f} s  ({min(values):.1f}-{max(values):.1f})   {note}")


if __name__ == "__main__":
    main()
