"""The docker-py client of a machine, and what the container, image, volume and network commands share."""

from __future__ import annotations

import time
from typing import Any, Optional

import click

from . import tunnelproc
from .cli_common import load

machine_option = click.option("--machine", "-m", "machine_name", metavar="NAME", envvar="MACHINE_NAME",
                              help="Machine to use [default: the active one].")


def client(machine_name: Optional[str]) -> Any:
    import docker

    host = tunnelproc.ensure(load(machine_name))
    return docker.DockerClient(base_url=host, version="auto", timeout=None)  # attach and wait last as long as a run


def fail(e: Exception, code: int = 1) -> None:
    import docker

    message = e.explanation if isinstance(e, docker.errors.APIError) and e.explanation else str(e)
    click.echo(f"Error response from daemon: {message}", err=True)
    raise SystemExit(code)


def ago(created: int) -> str:
    seconds = max(0, time.time() - created)
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} seconds ago"


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("   ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
