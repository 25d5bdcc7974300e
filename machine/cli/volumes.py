"""`machine volume create|ls|inspect|rm|prune` through docker-py."""

from __future__ import annotations

import json

import click

from .common import print_table
from .dockerclient import client, fail, machine_option


@click.group()
def volume() -> None:
    """Manage volumes."""


@volume.command("create")
@machine_option
@click.option("-l", "--label", multiple=True, help="KEY=VALUE labels.")
@click.argument("name", required=False)
def create(machine_name: str | None, label: tuple[str, ...], name: str | None) -> None:
    """Create a volume (a random name when none is given)."""
    labels = dict(item.partition("=")[::2] for item in label)
    click.echo(client(machine_name).api.create_volume(name, labels=labels or None)["Name"])


@volume.command("ls")
@machine_option
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names.")
def ls(machine_name: str | None, quiet: bool) -> None:
    """List volumes."""
    volumes = client(machine_name).api.volumes().get("Volumes") or []
    if quiet:
        for v in volumes:
            click.echo(v["Name"])
        return
    print_table([["DRIVER", "VOLUME NAME"]] + [[v["Driver"], v["Name"]] for v in volumes])


@volume.command("inspect")
@machine_option
@click.argument("names", nargs=-1, required=True)
def inspect(machine_name: str | None, names: tuple[str, ...]) -> None:
    """Print volumes as a JSON array."""
    import docker

    api = client(machine_name).api
    try:
        click.echo(json.dumps([api.inspect_volume(n) for n in names], indent=4))
    except docker.errors.APIError as e:
        fail(e)


@volume.command("rm")
@machine_option
@click.option("-f", "--force", is_flag=True)
@click.argument("names", nargs=-1, required=True)
def rm(machine_name: str | None, force: bool, names: tuple[str, ...]) -> None:
    """Remove volumes."""
    import docker

    api = client(machine_name).api
    for name in names:
        try:
            api.remove_volume(name, force=force)
            click.echo(name)
        except docker.errors.APIError as e:
            fail(e)


@volume.command("prune")
@machine_option
@click.option("-a", "--all", "everything", is_flag=True, help="Also named volumes, not only anonymous ones.")
def prune(machine_name: str | None, everything: bool) -> None:
    """Remove unused volumes."""
    result = client(machine_name).api.prune_volumes(filters={"all": ["true"]} if everything else None)
    for name in result.get("VolumesDeleted") or []:
        click.echo(name)
    click.echo(f"Total reclaimed space: {result.get('SpaceReclaimed', 0)}B")


COMMANDS = [volume]
