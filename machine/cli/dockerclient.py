"""The docker-py client of a machine, and what the container, image, volume and network commands share."""

from __future__ import annotations

import time
import urllib.parse
from typing import Any, NoReturn

import click

from .common import complete_machines, docker_host, load

machine_option = click.option(
    "--machine",
    "-m",
    "machine_name",
    metavar="NAME",
    envvar="MACHINE_NAME",
    help="Machine to use [default: the active one].",
    shell_complete=complete_machines,
)


def client(machine_name: str | None) -> Any:
    import docker

    host = docker_host(load(machine_name))
    # no timeout: attach and wait last as long as a run (docker-py takes None, its stubs say int)
    return docker.DockerClient(base_url=host, version="auto", timeout=None)  # type: ignore[arg-type]


def request(api: Any, method: str, path: str, *ids: str, **kwargs: Any) -> Any:
    """An Engine API request that docker-py has no method for (a streamed wait, logs kept apart by stream,
    several images saved at once): `path` with `{}` for each quoted id; a failure raises docker-py's error."""
    import docker
    import requests

    quoted = (urllib.parse.quote(i, safe="") for i in ids)
    response = api.request(method, f"{api.base_url}/v{api.api_version}{path.format(*quoted)}", **kwargs)
    try:
        response.raise_for_status()
    except requests.exceptions.HTTPError as e:
        raise docker.errors.create_api_error_from_http_exception(e) from None
    return response


def fail(e: Exception, code: int = 1) -> NoReturn:
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
