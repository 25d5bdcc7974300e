"""`machine network create|ls|inspect|rm|connect|disconnect` through docker-py."""

from __future__ import annotations

import json
from typing import Any

import click

from .common import print_table
from .dockerclient import client, fail, machine_option


@click.group()
def network() -> None:
    """Manage networks."""


def _call(machine_name: str | None, method: str, *args: object, **kwargs: object) -> Any:
    """docker-py's APIClient.`method`; an API error is reported as the docker CLI does."""
    import docker

    try:
        return getattr(client(machine_name).api, method)(*args, **kwargs)
    except docker.errors.APIError as e:
        fail(e)


@network.command("create")
@machine_option
@click.option("--internal", is_flag=True, help="No access to the outside.")
@click.argument("name")
def create(machine_name: str | None, internal: bool, name: str) -> None:
    """Create a network."""
    click.echo(_call(machine_name, "create_network", name, internal=internal)["Id"])


@network.command("ls")
@machine_option
def ls(machine_name: str | None) -> None:
    """List networks."""
    rows = _call(machine_name, "networks") or []
    print_table(
        [["NETWORK ID", "NAME", "DRIVER", "SCOPE"]] + [[n["Id"][:12], n["Name"], n["Driver"], n["Scope"]] for n in rows]
    )


@network.command("inspect")
@machine_option
@click.argument("names", nargs=-1, required=True)
def inspect(machine_name: str | None, names: tuple[str, ...]) -> None:
    """Print networks as a JSON array."""
    click.echo(json.dumps([_call(machine_name, "inspect_network", n) for n in names], indent=4))


@network.command("rm")
@machine_option
@click.argument("names", nargs=-1, required=True)
def rm(machine_name: str | None, names: tuple[str, ...]) -> None:
    """Remove networks."""
    for name in names:
        _call(machine_name, "remove_network", name)
        click.echo(name)


@network.command("connect")
@machine_option
@click.option("--alias", multiple=True, help="Network-scoped alias for the container.")
@click.argument("name")
@click.argument("container")
def connect(machine_name: str | None, alias: tuple[str, ...], name: str, container: str) -> None:
    """Connect a container to a network."""
    _call(machine_name, "connect_container_to_network", container, name, aliases=list(alias) or None)


@network.command("disconnect")
@machine_option
@click.argument("name")
@click.argument("container")
def disconnect(machine_name: str | None, name: str, container: str) -> None:
    """Disconnect a container from a network."""
    _call(machine_name, "disconnect_container_from_network", container, name)


COMMANDS = [network]
