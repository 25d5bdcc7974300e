"""Vagrant boxes of a cached guest image, built locally with no download (the disk: bootdisk.py).

- libvirt (vagrant-libvirt): box.img (qcow2 without a backing file), metadata.json
  {"provider": "libvirt", "format": "qcow2", "virtual_size": GB} and a Vagrantfile that picks qemu's TCG
  unless KVM has booted a guest on this computer (the libvirt driver's verdict, see FINDINGS: /dev/kvm alone
  is no proof).
- virtualbox: box.ovf (ovf.py), box-disk001.vmdk (streamOptimized), metadata.json {"provider": "virtualbox"}
  and a Vagrantfile giving the VM virtio network adapters (the image keeps no other NIC driver).

A box is an uncompressed tar of these files. It is added to Vagrant through a catalog (a local JSON file
naming the box, its version and the file: no network), as `machine/<image>` at a version made of the
image's build time, so a rebuilt image is a new version: vagrant-libvirt keeps each box version's disk in
libvirt's pool under that name and would reuse a stale one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import accel, bootdisk, guestimage, ovf
from .images import ImageCache, ImageError
from .vagrantcli import Vagrant

PROVIDERS = {"libvirt": bootdisk.VIRTIO, "virtualbox": bootdisk.AHCI}
SIZE_GIB = 8  # the box's disk; sparse, the root filesystem grows to it at the first boot
PREFIX = "machine/"

Progress = Callable[[str], None]

_LIBVIRT_VAGRANTFILE = """Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
{settings}  end
end
"""
_VIRTUALBOX_VAGRANTFILE = """Vagrant.configure("2") do |config|
  config.vm.provider :virtualbox do |vb|
    vb.default_nic_type = "virtio"
  end
end
"""


def name(image: str) -> str:
    """The box name of a cached image."""
    return f"{PREFIX}{image}"


def version(manifest: dict[str, Any]) -> str:
    """The box version of an image: its build time, 2026-11-30T17:08:37Z -> 20261130.170837."""
    built = str(manifest.get("built", ""))
    digits = "".join(c for c in built if c.isdigit())
    if len(digits) != 14:
        raise ImageError(f"the image's manifest has no build time ({built!r}): rebuild it with `machine image build`")
    return f"{digits[:8]}.{digits[8:]}"


def build(cache: ImageCache, image: str, provider: str, target: Path, progress: Progress, kvm: bool = False) -> None:
    """Write the box file `target` for `provider` from the cached image `image`."""
    if provider not in PROVIDERS:
        raise ImageError(f"no box format for {provider!r}: boxes are built for {', '.join(PROVIDERS)}")
    manifest = cache.manifest(image)
    if manifest is None:
        raise ImageError(f"no cached image {image!r}: build it with `machine image build {image}`")
    progress(f"Building the {provider} box of {image} (a disk that boots through GRUB)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".box-", dir=target.parent) as tmp:
        work = Path(tmp)
        raw = work / "disk.raw"
        bootdisk.build(cache.folder(image), manifest["kernel"], PROVIDERS[provider], raw, SIZE_GIB)
        capacity = raw.stat().st_size
        if provider == "libvirt":
            files = _libvirt(work, raw, capacity, kvm)
        else:
            files = _virtualbox(work, raw, capacity, image)
        raw.unlink()
        progress(f"Packing {target.name}")
        partial = work / "box.tar"
        with tarfile.open(partial, "w") as tar:
            for file in files:
                tar.add(work / file, arcname=file)
        os.replace(partial, target)


def _libvirt(work: Path, raw: Path, capacity: int, kvm: bool) -> list[str]:
    _convert(raw, work / "box.img", ["-O", "qcow2"])
    metadata = {"provider": "libvirt", "format": "qcow2", "virtual_size": capacity >> 30}
    (work / "metadata.json").write_text(json.dumps(metadata) + "\n")
    settings = '    libvirt.driver = "kvm"\n' if kvm else '    libvirt.driver = "qemu"\n'
    if not kvm:  # TCG emulates no host CPU model
        settings += '    libvirt.cpu_mode = "custom"\n    libvirt.cpu_model = "qemu64"\n'
    (work / "Vagrantfile").write_text(_LIBVIRT_VAGRANTFILE.format(settings=settings))
    return ["metadata.json", "Vagrantfile", "box.img"]


def _virtualbox(work: Path, raw: Path, capacity: int, image: str) -> list[str]:
    disk = "box-disk001.vmdk"
    _convert(raw, work / disk, ["-O", "vmdk", "-o", "subformat=streamOptimized"])
    descriptor = ovf.descriptor(f"machine-{image}", disk, (work / disk).stat().st_size, capacity)
    (work / "box.ovf").write_text(descriptor)
    (work / "metadata.json").write_text(json.dumps({"provider": "virtualbox"}) + "\n")
    (work / "Vagrantfile").write_text(_VIRTUALBOX_VAGRANTFILE)
    return ["metadata.json", "Vagrantfile", "box.ovf", disk]


def _convert(raw: Path, target: Path, options: list[str]) -> None:
    result = subprocess.run(
        ["qemu-img", "convert", "-f", "raw", *options, str(raw), str(target)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        raise ImageError(f"converting the box's disk failed: {result.stderr.strip()}")


def catalog(box: Path, box_name: str, box_version: str, provider: str) -> Path:
    """The catalog Vagrant adds a versioned box from (a JSON file beside the box, pointing at it)."""
    entry = {"name": provider, "url": box.resolve().as_uri()}
    data = {"name": box_name, "versions": [{"version": box_version, "providers": [entry]}]}
    path = box.with_suffix(".json")
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def ensure(
    vagrant: Vagrant, cache: Path, provider: str, progress: Progress, image: str = guestimage.DEFAULT
) -> tuple[str, str]:
    """The (name, version) of the box of the cached image `image` for `provider`, built (the image too, when
    missing) and added to Vagrant unless it already holds it."""
    images = ImageCache(cache)
    guestimage.ensure(images, progress, image)
    box_name, box_version = name(image), version(images.manifest(image) or {})
    if any(b == (box_name, provider, box_version) for b in ((x.name, x.provider, x.version) for x in vagrant.boxes())):
        return box_name, box_version
    (cache / "boxes").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{image}-{provider}-", dir=cache / "boxes"))
    try:
        box = work / f"{image}-{provider}-{box_version}.box"
        build(images, image, provider, box, progress, kvm=provider == "libvirt" and accel.kvm_works(cache))
        progress(f"Adding the box {box_name} {box_version} ({provider}) to Vagrant")
        vagrant.add_box(str(catalog(box, box_name, box_version, provider)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return box_name, box_version
