"""Commands that point clients at a machine: env, use, active, config."""

from __future__ import annotations

import click

from .. import dockercontext, tunnels
from ..store import StoreError
from . import shellenv
from .common import complete_machines, docker_host, load, machine_name, name_argument, store

_VARIABLES = ("DOCKER_HOST", "MACHINE_NAME", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT")


@click.command()
@name_argument
@click.option("--shell", type=click.Choice(shellenv.SHELLS), help="Shell syntax [default: detected].")
@click.option("-u", "--unset", is_flag=True, help="Print the commands that undo the settings.")
@click.option("--no-tunnel", is_flag=True, help="Do not start the machine's tunnel.")
def env(name: str | None, shell: str | None, unset: bool, no_tunnel: bool) -> None:
    """Print the environment that points the docker CLI and docker-py at a machine."""
    shell = shell or shellenv.detect_shell()
    shell_arg = f" --shell {shell}" if shell != shellenv.detect_shell() else ""
    if unset:
        click.echo(shellenv.render({v: None for v in _VARIABLES}, shell, f"machine env --unset{shell_arg}"), nl=False)
        return
    machine = load(name)
    host = tunnels.docker_host(machine) if no_tunnel else docker_host(machine)
    variables: dict[str, str | None] = {
        "DOCKER_HOST": host,
        "MACHINE_NAME": machine.name,
        "DOCKER_TLS_VERIFY": None,
        "DOCKER_CERT_PATH": None,
        "DOCKER_CONTEXT": None,
    }
    click.echo(shellenv.render(variables, shell, f"machine env {machine.name}{shell_arg}"), nl=False)


@click.command()
@click.argument("name", required=False, shell_complete=complete_machines)
@click.option("--local", is_flag=True, help="Go back to the docker engine on this computer.")
def use(name: str | None, local: bool) -> None:
    """Make NAME the active machine: `machine` commands and the docker CLI (context machine-NAME) use it."""
    st = store()
    if local and not name:
        st.set_active(None)
        dockercontext.set_current_context(None)
        click.echo("Using the local docker engine (docker context default)")
        return
    if local or not name:
        raise click.UsageError("give either a machine NAME or --local")
    machine = st.load(name)
    host = tunnels.docker_host(machine)
    try:
        docker_host(machine)
    except tunnels.TunnelError as e:  # the agent needs repair (the warning says how): switch anyway
        click.echo(f"Warning: {e}", err=True)
    context = dockercontext.write_context(machine.name, host)
    dockercontext.set_current_context(context)
    st.set_active(machine.name)
    click.echo(f"Active machine: {machine.name} (docker context {context})")


@click.command()
def active() -> None:
    """Print the active machine."""
    name = store().active()
    if not name:
        raise StoreError("no active machine: pick one with `machine use NAME` (or set MACHINE_NAME)")
    click.echo(name)


@click.command()
@name_argument
def config(name: str | None) -> None:
    """Print the docker CLI flags that connect to a machine."""
    click.echo(f"-H={docker_host(load(machine_name(name)))}")


COMMANDS = [env, use, active, config]
