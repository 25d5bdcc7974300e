"""A local stand-in for a cloud instance: a cloud image booted under plain qemu (TCG) with a NoCloud seed
holding the user data a driver sent, SSH forwarded from a port on 127.0.0.1.

The overlay disk, the seed and the serial log live in the caller's folder; qemu is killed and the files
removed when the context ends, whether the test passed or not.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from machine.vm import iso9660


@dataclass
class Guest:
    process: subprocess.Popen[bytes]
    serial_log: Path

    def serial(self) -> str:
        return self.serial_log.read_text(errors="replace") if self.serial_log.exists() else ""


@contextlib.contextmanager
def booted(
    image: Path, user_data: bytes, work: Path, instance_id: str, hostname: str, port: int, memory_mib: int = 768
) -> Iterator[Guest]:
    """The cloud image at `image` booting from an overlay in `work`, configured by cloud-init from `user_data`,
    its SSH port forwarded from 127.0.0.1:`port`."""
    work.mkdir(parents=True, exist_ok=True)
    disk, seed, log = work / "disk.qcow2", work / "seed.iso", work / "serial.log"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(image), "-F", "qcow2", str(disk), "4G"], check=True
    )
    meta_data = json.dumps({"instance-id": instance_id, "local-hostname": hostname}).encode()
    iso9660.write(seed, "cidata", {"meta-data": meta_data, "user-data": user_data})
    process = subprocess.Popen(
        [
            "qemu-system-x86_64",
            "-accel",
            "tcg,tb-size=64",
            "-m",
            str(memory_mib),
            "-smp",
            "1",
            "-nographic",
            "-nodefaults",
            "-drive",
            f"file={disk},if=virtio,cache=unsafe",
            "-drive",
            f"file={seed},if=virtio,format=raw,readonly=on",
            "-netdev",
            f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
            "-device",
            "virtio-net-pci,netdev=n0,romfile=",
            "-device",
            "virtio-rng-pci",
            "-serial",
            f"file:{log}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield Guest(process, log)
    finally:
        process.kill()
        process.wait()
        for path in (disk, seed):
            path.unlink(missing_ok=True)
