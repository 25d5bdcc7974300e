"""Vagrant for tests: a private VAGRANT_HOME and a private machine store whose guest image is a link to the
cached one under a name of its own, so the box `machine image box` makes from it (and the volume
vagrant-libvirt uploads to libvirt's `default` pool) belongs to this run alone. Afterwards the boxes'
volumes, the Vagrant home and the store are removed, whatever happened."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import Cli, stop_tunnels

VIRSH = ["virsh", "-c", "qemu:///system"]
NO_NETWORK = {"VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1"}


@dataclass
class VagrantStore:
    cli: Cli
    image: str  # the private image's name: its box is machine/<image>
    home: Path  # VAGRANT_HOME

    @property
    def box(self) -> str:
        return f"machine/{self.image}"

    @property
    def env(self) -> dict[str, str]:
        return self.cli.env


def pool_volumes() -> list[str]:
    result = subprocess.run([*VIRSH, "vol-list", "default"], capture_output=True, text=True, timeout=60)
    return [line.split()[0] for line in result.stdout.splitlines()[2:] if line.strip()]


def domains() -> list[str]:
    result = subprocess.run([*VIRSH, "list", "--all", "--name"], capture_output=True, text=True, timeout=60)
    return result.stdout.split()


def _link_image(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for file in source.iterdir():
        try:
            os.link(file, target / file.name)
        except OSError:  # another filesystem
            shutil.copyfile(file, target / file.name)


@contextlib.contextmanager
def vagrant_store(cached_store: Path, base: Path) -> Iterator[VagrantStore]:
    """A store in `base` with the guest image of `cached_store` under a unique name, and a Vagrant home."""
    image = f"vt-{uuid.uuid4().hex[:8]}"
    store, home = base / "store", base / "vagrant.d"
    _link_image(cached_store / "cache/images/debian-12", store / "cache/images" / image)
    env = dict(os.environ, MACHINE_STORAGE_PATH=str(store), DOCKER_CONFIG=str(base / "docker"), VAGRANT_HOME=str(home))
    env.update(NO_NETWORK)
    env.pop("DOCKER_HOST", None)
    try:
        yield VagrantStore(Cli(store, env), image, home)
    finally:
        stop_tunnels(store)
        cli = Cli(store, env)
        for name in (p.name for p in (store / "machines").glob("*")):
            cli("rm", "-f", "-y", name, check=False, timeout=600)
        prefix = f"machine-VAGRANTSLASH-{image}_"  # the boxes' volumes vagrant-libvirt uploaded
        for volume in pool_volumes():
            if volume.startswith(prefix):
                subprocess.run([*VIRSH, "vol-delete", "--pool", "default", volume], capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(store, ignore_errors=True)
