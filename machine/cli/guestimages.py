"""`machine image build|ls|rm|box`: the cached guest images VM drivers boot, and Vagrant boxes of them."""

from __future__ import annotations

from pathlib import Path

import click

from ..vm import accel, guestimage, vagrantbox, vagrantcli
from ..vm.images import ImageCache, ImageError
from .common import print_table, progress, store


def _cache() -> ImageCache:
    return ImageCache(store().cache)


@click.group()
def image() -> None:
    """Manage cached guest images (built from Debian's packages)."""


@image.command("build")
@click.argument("name", default=guestimage.DEFAULT)
def build(name: str) -> None:
    """Build (or rebuild) the guest image NAME."""
    guestimage.build(_cache(), progress, name)


@image.command("ls")
def ls() -> None:
    """List cached guest images."""
    rows = [["NAME", "SUITE", "BUILT", "SIZE", "KERNEL"]]
    for m in _cache().list():
        size = sum(f["size"] for f in m["files"].values()) / 1e6
        rows.append([m["name"], m["suite"], m["built"], f"{size:.0f}MB", m["kernel"]])
    print_table(rows)


@image.command("rm")
@click.argument("name")
def rm(name: str) -> None:
    """Remove the cached guest image NAME (machines created from it keep their own links to its files)."""
    _cache().remove(name)
    click.echo(f"Removed image {name}")


@image.command("box")
@click.option(
    "--provider",
    type=click.Choice(sorted(vagrantbox.PROVIDERS)),
    default="virtualbox",
    show_default=True,
    help="The Vagrant provider the box is for.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Only write the box file (e.g. to add it on another computer), do not add it to Vagrant.",
)
@click.argument("name", default=guestimage.DEFAULT)
def box(provider: str, output: Path | None, name: str) -> None:
    """Build a Vagrant box of the guest image NAME (no download) and add it to Vagrant as machine/NAME."""
    cache = _cache()
    if output is not None:
        guestimage.ensure(cache, progress, name)
        kvm = provider == "libvirt" and accel.kvm_works(store().cache)
        vagrantbox.build(cache, name, provider, output, progress, kvm=kvm)
        click.echo(f"Wrote {output}: add it with `vagrant box add --name {vagrantbox.name(name)} {output}`")
        return
    boxes = store().cache / "boxes"
    boxes.mkdir(parents=True, exist_ok=True)
    try:
        vagrant = vagrantcli.Vagrant(boxes, boxes / "vagrant.log", progress=progress)
        box_name, box_version = vagrantbox.ensure(vagrant, store().cache, provider, progress, name)
    except vagrantcli.VagrantError as e:
        raise ImageError(str(e)) from None
    click.echo(f"Vagrant holds the box {box_name} {box_version} ({provider}); machine create -d vagrant uses it")


COMMANDS = [image]
