#!/usr/bin/env python3
"""VM boot: `machine create` and `machine start` against a raw qemu boot of the same image, in one run (root).

Starts libvirtd when none runs (tests/support/libvirtd.py) and builds the guest image when it is not cached.
The raw boot is plain qemu (same accelerator, kernel, initrd, disk overlay, seed disk and virtio-rng; user
networking) timed until sshd answers; `machine create` is timed until the agent answers; then `machine stop
--shutdown` right after it (forced off or not), `machine start` of the shut-down machine until the agent answers
again, the agent's unit from activating to answering /_ping, to READY as systemd recorded it and to its server
loaded (and `systemd-analyze blame`), `machine stop` saving the state and `machine start` resuming it, beside a
raw `virsh start` of a managed-saved domain: with the libvirt driver (direct kernel boot); then create and start
after a shutdown with the vagrant driver (vagrant-libvirt, the box `machine image box` builds from the same
image, booted through its GRUB; its box is built and added once, in a private Vagrant home removed afterwards).
Each figure is the median of --rounds rounds (the raw boot is noisy).
Usage: python3 bench/vm_boot.py [--accel tcg|kvm] [--cpus N] [--rounds N] [--store PATH] [--no-vagrant]
"""

from __future__ import annotations

import argparse
import contextlib
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

from drivers.libvirt import NETWORK, LibvirtSettings  # noqa: E402
from machine.vm import bootfiles, keys  # noqa: E402
from tests.support import libvirtd as libvirtd_harness  # noqa: E402
from tests.support.vagrant import VagrantStore, vagrant_store  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_banner(port: int, start: float, limit: float = 300) -> float:
    """Seconds from `start` to the first SSH banner through slirp's forward.

    A probe made before the guest's NIC is up stalls in slirp for seconds (FINDINGS), so one probe at a
    time would see the banner late: a new probe starts every second, the first answer from sshd wins. Each
    is kept for 8 s: on a loaded host sshd takes seconds to answer a connection, and probes closed after 3 s
    (one every 0.1 s) never saw a banner, as sshd dropped them beyond its MaxStartups.
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
                next_probe = now + 1.0
            for probe, opened in list(probes.items()):
                if now - opened > 8:
                    probe.close()
                    del probes[probe]
            readable, _, _ = select.select(list(probes), [], [], 0.02)
            for probe in readable:
                try:
                    data = probe.recv(4)
                except OSError:
                    data = b""
                if data:  # slirp itself never sends data: these are sshd's first bytes (its banner, or
                    return time.monotonic() - start  # "Exceeded MaxStartups" while other probes are pending)
                probe.close()
                del probes[probe]
        raise RuntimeError(f"the raw VM did not answer SSH within {limit:.0f} s")
    finally:
        for probe in probes:
            probe.close()


def raw_boot(image: Path, work: Path, accel: str, memory: int, cpus: int) -> float:
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
            str(cpus),
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


def machine_round(machine: list[str], env: dict[str, str], options: list[str], name: str) -> tuple[float, float]:
    """(create, start after a shutdown) seconds of a machine made with the driver `options`, removed afterwards."""
    try:
        create = timed([*machine, "create", *options, name], env)
        timed([*machine, "stop", "--shutdown", name], env)
        start = timed([*machine, "start", name], env)
        return create, start
    finally:
        subprocess.run([*machine, "rm", "-f", "-y", name], env=env, capture_output=True)


def agent_unit(machine: list[str], env: dict[str, str], name: str) -> tuple[float, float, float, str]:
    """Seconds the agent's unit took, after this boot, from activating to answering /_ping (its `answering` line),
    to READY as systemd recorded it (Type=notify: sent once /_ping answers; systemd, busy with the boot, records it
    later), and to its server being loaded (every route answers or waits for the engine: its `serving on` line);
    and the top of `systemd-analyze blame`."""
    lines = "journalctl -b -u machine-agent -o short-monotonic --no-pager | grep -m1 '{}' | cut -d']' -f1 | tr -d '[ '"
    shown = subprocess.run(
        [
            *machine,
            "ssh",
            name,
            "--",
            "systemctl show machine-agent -p InactiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic; "
            f"echo answering=$({lines.format('answering /_ping')}); echo loaded=$({lines.format('serving on')}); "
            "systemd-analyze blame | head -5",
        ],
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    fields = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    blame = "\n".join("    " + line.strip() for line in shown.splitlines() if "=" not in line and line.strip())
    activating = int(fields["InactiveExitTimestampMonotonic"]) / 1e6
    ready = int(fields["ActiveEnterTimestampMonotonic"]) / 1e6 - activating
    return float(fields["answering"]) - activating, ready, float(fields["loaded"]) - activating, blame


def libvirt_round(machine: list[str], env: dict[str, str], options: list[str], name: str) -> tuple[float, ...]:
    """(create, stop --shutdown right after it, forced (1/0), start (boot), agent unit to answering, stop (save),
    start (resume), raw restore, agent unit to its server loaded, agent unit to READY) seconds of one libvirt
    machine, removed afterwards."""
    virsh = ["virsh", "-c", "qemu:///system"]
    try:
        create = timed([*machine, "create", *options, name], env)
        started = time.monotonic()
        shutdown = subprocess.run([*machine, "stop", "--shutdown", name], env=env, capture_output=True, text=True)
        shutdown_s = time.monotonic() - started
        forced = float("powering it off" in shutdown.stderr)
        boot = timed([*machine, "start", name], env)
        answering, ready, loaded, blame = agent_unit(machine, env, name)
        print(f"systemd-analyze blame (top 5) after a boot:\n{blame}")
        save = timed([*machine, "stop", name], env)
        resume = timed([*machine, "start", name], env)
        timed([*virsh, "managedsave", f"machine-{name}"], env)
        raw_restore = timed([*virsh, "start", f"machine-{name}"], env)
        return create, shutdown_s, forced, boot, answering, save, resume, raw_restore, loaded, ready
    finally:
        subprocess.run([*machine, "rm", "-f", "-y", name], env=env, capture_output=True)


def one_round(
    image: Path, machine: list[str], env: dict[str, str], args: argparse.Namespace, vagrant: VagrantStore | None
) -> tuple[float, ...]:
    """(raw boot, the libvirt round's figures[, vagrant create, vagrant start]) seconds."""
    work = Path(tempfile.mkdtemp(prefix="bench-vm-"))
    name = f"bench-{os.getpid()}"
    try:
        raw = raw_boot(image, work, args.accel, args.memory, args.cpus)
    finally:
        subprocess.run(["rm", "-rf", str(work)])
    memory, cpus = str(args.memory), str(args.cpus)
    options = ["-d", "libvirt", "--libvirt-accel", args.accel, "--libvirt-memory", memory, "--libvirt-cpus", cpus]
    libvirt = libvirt_round(machine, env, options, name)
    if vagrant is None:
        return (raw, *libvirt)
    options = ["-d", "vagrant", "--vagrant-provider", "libvirt", "--vagrant-box", vagrant.box]
    options += ["--vagrant-memory", memory, "--vagrant-cpus", cpus]
    return (raw, *libvirt, *machine_round(machine, vagrant.env, options, name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accel", default="tcg", choices=["tcg", "kvm"])
    parser.add_argument("--memory", type=int, default=1024)
    parser.add_argument("--cpus", type=int, default=LibvirtSettings.cpus, help="virtual CPUs of every VM")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of raw boot, create, stop, start (medians)")
    parser.add_argument("--store", default=os.environ.get("MACHINE_STORAGE_PATH", "/var/cache/machine-test"))
    parser.add_argument(
        "--no-vagrant", dest="vagrant", action="store_false", help="skip the vagrant driver (vagrant-libvirt)"
    )
    args = parser.parse_args()
    env = dict(os.environ, MACHINE_STORAGE_PATH=args.store)
    machine = [sys.executable, "-m", "machine"]
    build = 0.0
    if not (Path(args.store) / "cache/images/debian-12/manifest.json").exists():
        build = timed([*machine, "image", "build"], env)
    manifest = json.loads((Path(args.store) / "cache/images/debian-12/manifest.json").read_text())
    image = Path(args.store) / "cache/images/debian-12"
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(libvirtd_harness.running(NETWORK))
        except libvirtd_harness.Unavailable as e:
            raise SystemExit(str(e)) from None
        vagrant, box = None, 0.0
        if args.vagrant:  # the same image, under a name of its own, with a private Vagrant home (removed after)
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-vg-")))
            vagrant = stack.enter_context(vagrant_store(Path(args.store), base))
            box = timed([*machine, "image", "box", "--provider", "libvirt", vagrant.image], vagrant.env)
        rounds = [one_round(image, machine, env, args, vagrant) for _ in range(args.rounds)]
    medians = [statistics.median(column) for column in zip(*rounds, strict=True)]
    raw, create, boot, raw_restore = medians[0], medians[1], medians[4], medians[8]
    size = sum(f["size"] for f in manifest["files"].values()) / 1e6
    print(
        f"image: built in {manifest.get('build_seconds', build):.0f} s, {size:.0f} MB "
        f"(disk.qcow2 {manifest['files']['disk.qcow2']['size'] / 1e6:.0f} MB); accelerator {args.accel}, "
        f"{args.cpus} vCPU; median of {args.rounds} rounds (min-max)"
    )
    forced = sum(r[3] for r in rounds)
    rows = [
        ("raw qemu boot to SSH banner", 0, ""),
        ("libvirt: create to agent ready", 1, f"raw + {create - raw:.1f} s (goal: raw + 1 s)"),
        (
            "libvirt: stop --shutdown after create",
            2,
            f"forced off in {forced:.0f} of {len(rounds)} (goal: none, <= 5 s)",
        ),
        ("libvirt: start after a shutdown", 4, f"raw + {boot - raw:.1f} s (goal: raw + 1 s)"),
        ("agent unit: start to answering /_ping", 5, "goal <= 1 s"),
        ("agent unit: start to READY (systemd's)", 10, "recorded by systemd, busy with the boot"),
        ("agent unit: start to its server loaded", 9, "the other routes answer (or wait for the engine)"),
        ("libvirt: stop (save the state)", 6, ""),
        ("libvirt: start from saved state", 7, f"raw restore (virsh start) {raw_restore:.2f} s (goal <= 1.5 s)"),
    ]
    if vagrant is not None:
        print(f"vagrant: `machine image box --provider libvirt` (build and add, once): {box:.1f} s")
        vcreate, vstart = medians[11:]
        rows += [
            ("vagrant: create to agent ready", 11, f"{vcreate / raw:.1f}x raw, {vcreate / create:.1f}x libvirt's"),
            ("vagrant: start to agent ready", 12, f"{vstart / raw:.1f}x raw, {vstart / boot:.1f}x libvirt's"),
        ]
    for label, column, note in rows:
        values = [r[column] for r in rounds]
        print(f"{label:<38} {medians[column]:6.2f} s  ({min(values):.2f}-{max(values):.2f})   {note}")


if __name__ == "__main__":
    main()
