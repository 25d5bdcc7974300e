"""`machine image build|ls|rm`: the cached guest images VM drivers boot."""

from __future__ import annotations

import click

from . import guestimage
from .cli_common import progress


@click.group()
def image() -> None:
    """Manage cached guest images (built from Debian's packages)."""


@image.command("build")
@click.argument("name", default=guestimage.DEFAULT)
def build(name: str) -> None:
    """Build (or rebuild) the guest image NAME."""
    guestimage.build(progress, name)


@image.command("ls")
def ls() -> None:
    """List cached guest images."""
    rows = [["NAME", "SUITE", "BUILT", "SIZE", "KERNEL"]]
    for m in guestimage.list_images():
        size = sum(f["size"] for f in m["files"].values()) / 1e6
        rows.append([m["name"], m["suite"], m["built"], f"{size:.0f}MB", m["kernel"]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("   ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@image.command("rm")
@click.argument("name")
def rm(name: str) -> None:
    """Remove the cached guest image NAME (machines created from it keep their own links to its files)."""
    guestimage.remove(name)
    click.echo(f"Removed image {name}")


COMMANDS = [image]
