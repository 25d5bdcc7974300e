#!/usr/bin/env python3
"""Shared folders: a container on the share against the guest's own disk and `machine scp`, in one run (root).

Creates a libvirt machine sharing a temporary folder, then times in a container (busybox's `time -f %e`):
a sequential write and read of a 200 MB file, and `find` + `stat` over 10,000 small files, on the share and
on the guest's disk (page cache dropped before each read), and `find` + `stat` on the same folder shared
`cached` (20 s caches instead of 1 s); and `machine scp` of the same data. Goals (#16):
metadata work on the share no worse than 10x the guest's disk; throughput at least half of what scp carries.
Starts libvirtd when none runs (tests/support/libvirtd.py) and needs the guest image cached.
Usage: python3 bench/sharing.py [--store PATH] [--mb N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from drivers.libvirt import NETWORK  # noqa: E402
from machine.busybox import image_tar  # noqa: E402
from tests.support import libvirtd as libvirtd_harness  # noqa: E402

FILES = 10_000
NAME = "bench-share"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=os.environ.get("MACHINE_STORAGE_PATH", "/var/cache/machine-test"))
    parser.add_argument("--mb", type=int, default=200, help="size of the big file")
    args = parser.parse_args()
    env = dict(os.environ, MACHINE_STORAGE_PATH=args.store)
    env.pop("DOCKER_HOST", None)
    work = Path(tempfile.mkdtemp(prefix="bench-sharing-"))
    shared = work / "shared"
    (shared / "small").mkdir(parents=True)
    big = shared / "big"
    with open(big, "wb") as f:
        for _ in range(args.mb):
            f.write(os.urandom(1 << 20))
    for i in range(FILES):
        folder = shared / "small" / f"d{i // 100:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"f{i:05d}").write_text(f"{i}\n")

    def machine(*words: str, timeout: float = 1800) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "machine", *words], env=env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise SystemExit(f"machine {' '.join(words)} failed:\n{done.stderr}")
        return done.stdout + done.stderr

    def in_container(command: str) -> float:
        """Seconds `command` took in a container with the share at /s (cached at /c) and a volume on the guest's
        disk at /d."""
        machine("ssh", NAME, "--", "sync; echo 3 > /proc/sys/vm/drop_caches")
        script = f"time -f %e sh -c '{command}'"
        out = machine(
            "run",
            "--machine",
            NAME,
            "--rm",
            "-v",
            "/srv/bench:/s",
            "-v",
            "/srv/bench-cached:/c",
            "-v",
            "bench-disk:/d",
            "busybox",
            "sh",
            "-c",
            script,
        )
        return float(re.findall(r"^(\d+\.\d+)$", out, re.M)[-1])

    def scp(source: Path, recursive: bool) -> float:
        start = time.perf_counter()
        machine("scp", *(["-r"] if recursive else []), str(source), f"{NAME}:/var/tmp/")
        return time.perf_counter() - start

    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        try:
            stack.enter_context(libvirtd_harness.running(NETWORK))
        except libvirtd_harness.Unavailable as e:
            raise SystemExit(str(e)) from None
        remove = [sys.executable, "-m", "machine", "rm", "-f", "-y", NAME]
        stack.callback(subprocess.run, remove, env=env, capture_output=True)
        machine(
            "create",
            *("-d", "libvirt", "--libvirt-memory", "1024"),
            *("--share", f"{shared}:/srv/bench", "--share", f"{shared}:/srv/bench-cached:cached"),
            NAME,
        )
        image_tar(work / "busybox.tar", "busybox:latest")
        machine("load", "--machine", NAME, "-i", str(work / "busybox.tar"))
        in_container("cp -r /s/small /d/small && cp /s/big /d/big && sync")  # the guest-disk copies of the data
        mb = args.mb
        rows = {
            "write": tuple(
                in_container(f"dd if=/dev/zero of={root}/written bs=1M count={mb} conv=fsync 2>/dev/null")
                for root in ("/s", "/d")
            ),
            "read": tuple(in_container(f"cat {root}/big > /dev/null") for root in ("/s", "/d")),
            "find + stat": tuple(
                in_container(f"find {root}/small -type f -exec stat -c %s {{}} + > /dev/null")
                for root in ("/s", "/d", "/c")
            ),
        }
        scp_big, scp_small = scp(big, False), scp(shared / "small", True)

    def rate(seconds: float) -> str:
        return f"{mb / seconds:7.1f} MB/s"

    print(f"{'':34}{'share':>14}{'guest disk':>14}{'machine scp':>14}  ratio              goal")
    for what in ("write", "read"):
        share, disk = rows[what]
        ratio = scp_big / share
        verdict = "ok" if ratio >= 0.5 else "MISSED"
        print(
            f"{what + f' {mb} MB':34}{rate(share):>14}{rate(disk):>14}{rate(scp_big):>14}  "
            f"share/scp {ratio:4.2f}     >= 0.5 {verdict}"
        )
    share, disk, cached = rows["find + stat"]
    for label, seconds in (("", share), (" (cached)", cached)):
        verdict = "ok" if seconds / disk <= 10 else "MISSED"
        print(
            f"{f'find + stat {FILES} files{label}':34}{seconds:>12.2f} s{disk:>12.2f} s{scp_small:>12.2f} s  "
            f"share/disk {seconds / disk:5.1f}x   <= 10x {verdict}"
        )


if __name__ == "__main__":
    main()
