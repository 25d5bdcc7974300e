"""`machine image build|ls|rm`: the cached guest images VM drivers boot."""

from __future__ import annotations

import click

from ..vm import guestimage
from ..vm.images import ImageCache
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


COMMANDS = [image]
