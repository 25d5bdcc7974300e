"""Host commands: create, ls, status, ip, url, inspect, start, stop, restart, kill, rm, provision, upgrade."""

from __future__ import annotations

import concurrent.futures
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

import drivers
from drivers import DriverError, State

from .. import __version__, tunnels
from ..agent import AgentLocation
from ..sharing import shares
from ..store import Machine, StoreError
from .common import (
    complete_machines,
    lifecycle,
    load,
    name_argument,
    names_argument,
    print_table,
    progress,
    store,
)


def driver_in(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg in ("-d", "--driver") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--driver="):
            return arg.split("=", 1)[1]
        if arg.startswith("-d") and len(arg) > 2:
            return arg[2:]
    return os.environ.get("MACHINE_DRIVER")


class CreateCommand(click.Command):
    """`create` takes the options of the driver chosen with -d (so `create -d NAME --help` lists them)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        name = driver_in(args)
        if name:
            try:
                driver = drivers.load(name)
            except DriverError as e:
                raise click.UsageError(str(e), ctx) from None
            self.params = [p for p in self.params if not getattr(p, "_driver_option", False)]
            for opt in driver.options():
                opt._driver_option = True  # type: ignore[attr-defined]
                self.params.append(opt)
        return super().parse_args(ctx, args)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, cls.description) for name, cls in sorted(drivers.available().items())]
        with formatter.section("Drivers (see their options with `machine create -d DRIVER --help`)"):
            formatter.write_dl(rows)


@click.command(cls=CreateCommand)
@click.option(
    "-d",
    "--driver",
    envvar="MACHINE_DRIVER",
    metavar="DRIVER",
    help="Driver that creates the host [env: MACHINE_DRIVER] (required).",
)
@click.option(
    "--no-provision", is_flag=True, help="Only create the host; install the agent later with `machine provision`."
)
@click.option(
    "--share",
    "share_specs",
    multiple=True,
    metavar="LOCAL[:GUEST][:ro]",
    help="Share a folder of this computer with the machine (repeatable; a VM on this computer shares your home "
    "folder unless told otherwise).",
)
@click.option("--no-share", is_flag=True, help="Share no folder of this computer with the machine.")
@click.option("--agent-socket", default=AgentLocation.socket, show_default=True, hidden=True)
@click.option("--agent-root", default=AgentLocation.root, show_default=True, hidden=True)
@click.option("--agent-dir", default=AgentLocation.install_dir, show_default=True, hidden=True)
@click.argument("name")
@click.pass_context
def create(
    ctx: click.Context,
    /,
    driver: str | None,
    no_provision: bool,
    share_specs: tuple[str, ...],
    no_share: bool,
    agent_socket: str,
    agent_root: str,
    agent_dir: str,
    name: str,
    **driver_options: Any,
) -> None:
    """Create a machine NAME with a driver and install the container agent on it."""
    if not driver:
        raise click.UsageError(
            f"choose a driver with -d DRIVER (installed: {', '.join(sorted(drivers.available())) or 'none'})", ctx
        )
    if share_specs and no_share:
        raise click.UsageError("--share and --no-share exclude each other", ctx)
    driver_class = drivers.load(driver)
    chosen = shares.default() if driver_class.local_vm and not (no_share or share_specs) else []
    try:
        for spec in share_specs:
            chosen = shares.add(chosen, shares.parse(spec))
    except shares.ShareError as e:
        raise click.UsageError(str(e), ctx) from None
    settings = driver_class.settings_from_options(driver_options)
    location = AgentLocation(agent_socket, agent_root, agent_dir)
    lifecycle().create(name, driver_class, settings, location, provision_agent=not no_provision, shares=chosen)
    progress(
        f"Machine {name} is ready. To point your docker CLI at it, run: machine use {name}"
        f"  (or: eval $(machine env {name}))"
    )


def _state_row(machine: Machine, active: str | None) -> dict[str, Any]:
    error = ""
    try:
        state = lifecycle().state(machine)
    except Exception as e:  # one broken machine (or backend) must not break the listing
        state, error = State.ERROR, str(e) or type(e).__name__
    if state is State.ERROR and not error:
        error = (
            f"create or provision did not finish: run `machine provision {machine.name}` "
            f"or `machine rm -f {machine.name}`"
        )
    return {
        "Name": machine.name,
        "Active": machine.name == active,
        "DriverName": machine.driver,
        "State": str(state),
        "URL": tunnels.docker_host(machine) if state is State.RUNNING else "",
        "DockerVersion": machine.agent.get("version", ""),
        "Error": error,
    }


def _error_row(name: str, error: str, active: str | None) -> dict[str, Any]:
    return {
        "Name": name,
        "Active": name == active,
        "DriverName": "",
        "State": str(State.ERROR),
        "URL": "",
        "DockerVersion": "",
        "Error": error,
    }


def _matches(row: dict[str, Any], filters: list[tuple[str, str]]) -> bool:
    fields = {"name": "Name", "driver": "DriverName", "state": "State"}
    by_key: dict[str, list[str]] = {}
    for key, value in filters:
        by_key.setdefault(key, []).append(value.lower())
    return all(str(row[fields[key]]).lower() in values for key, values in by_key.items())


def _parse_filter(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[tuple[str, str]]:
    parsed = []
    for value in values:
        key, sep, wanted = value.partition("=")
        if not sep or key not in ("name", "driver", "state"):
            raise click.BadParameter(f"{value!r}: use name=NAME, driver=DRIVER or state=STATE", ctx, param)
        parsed.append((key, wanted))
    return parsed


@click.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only print machine names.")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    callback=_parse_filter,
    metavar="KEY=VALUE",
    help="Only machines with name=, driver= or state= (repeatable).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Output format.")
@click.option("-t", "--timeout", default=10.0, show_default=True, help="Seconds to wait for each machine's state.")
def ls(quiet: bool, filters: list[tuple[str, str]], fmt: str, timeout: float) -> None:
    """List machines, their state and where their docker endpoint is."""
    st = store()
    active = st.active()
    rows: dict[str, dict[str, Any]] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=16)
    futures = {}
    for name in st.names():
        try:
            futures[name] = pool.submit(_state_row, st.load(name), active)
        except StoreError as e:
            rows[name] = _error_row(name, str(e), active)
    done, _ = concurrent.futures.wait(futures.values(), timeout=timeout)
    for name, future in futures.items():
        rows[name] = (
            future.result()
            if future in done
            else _error_row(name, f"no answer within {timeout:.0f}s (raise it with --timeout)", active)
        )
        if future not in done:
            rows[name]["State"], rows[name]["DriverName"] = "timeout", st.load(name).driver
    pool.shutdown(wait=False, cancel_futures=True)
    shown = [rows[name] for name in sorted(rows) if _matches(rows[name], filters)]
    if quiet:
        for row in shown:
            click.echo(row["Name"])
    elif fmt == "json":
        for row in shown:
            click.echo(json.dumps(row))
    else:
        _table(shown)
    if any(future not in done for future in futures.values()):
        sys.stdout.flush()
        os._exit(0)  # do not wait for the threads stuck on unresponsive backends


def _table(rows: list[dict[str, Any]]) -> None:
    header = ["NAME", "ACTIVE", "DRIVER", "STATE", "URL", "DOCKER", "ERRORS"]
    lines = [
        [
            r["Name"],
            "*" if r["Active"] else "-",
            r["DriverName"],
            r["State"].capitalize().replace("-", " "),
            r["URL"],
            r["DockerVersion"] and f"v{r['DockerVersion']}",
            r["Error"],
        ]
        for r in rows
    ]
    print_table([header, *lines])


@click.command()
@name_argument
def status(name: str | None) -> None:
    """Print the state of a machine (Running, Stopped, ...)."""
    click.echo(str(lifecycle().state(load(name))).capitalize().replace("-", " "))


@click.command()
@names_argument
def ip(names: tuple[str, ...]) -> None:
    """Print the IP address of machines."""
    for name in names or (None,):
        click.echo(lifecycle().driver(load(name)).ip())


@click.command()
@name_argument
def url(name: str | None) -> None:
    """Print the DOCKER_HOST URL of a machine."""
    click.echo(tunnels.docker_host(load(name)))


@click.command()
@name_argument
def inspect(name: str | None) -> None:
    """Print a machine's record as JSON."""
    machine = load(name)
    click.echo(json.dumps({**machine.to_json(), "folder": str(machine.folder)}, indent=4))


def _operate(names: tuple[str, ...], verb: str, action: Callable[[Machine], None]) -> None:
    failed = False
    for name in names or (None,):
        machine = load(name)
        try:
            with store().lock(machine.name):
                progress(f"{verb} {machine.name!r}...")
                action(machine)
        except (DriverError, StoreError) as e:
            click.echo(f"Error: {machine.name}: {e}", err=True)
            failed = True
    if failed:
        raise SystemExit(1)


def _start(machine: Machine) -> None:
    lifecycle().start(machine)
    progress("Started machines may have new IP addresses; `machine env` and `machine use` pick them up.")


def _op(name: str, verb: str, action: Callable[[Machine], None], help: str) -> click.Command:
    @click.command(name, help=help)
    @names_argument
    def command(names: tuple[str, ...]) -> None:
        _operate(names, verb, action)

    return command


start = _op("start", "Starting", _start, "Start machines.")


@click.command()
@click.option("--shutdown", is_flag=True, help="Shut down instead of saving the machine's state.")
@names_argument
def stop(shutdown: bool, names: tuple[str, ...]) -> None:
    """Stop machines. A local VM's state is saved (its containers keep running when `machine start` resumes
    it); --shutdown, and drivers that cannot save, shut down: the guest is asked to power off, then ACPI, then
    it is forced off."""
    _operate(names, "Stopping", lambda m: lifecycle().stop(m, shutdown=shutdown))


restart = _op("restart", "Restarting", lambda m: lifecycle().restart(m), "Restart machines (a real shutdown).")
kill = _op("kill", "Killing", lambda m: lifecycle().kill(m), "Power machines off at once.")


@click.command()
@click.option(
    "-f", "--force", is_flag=True, help="Remove the local record even if the driver fails to remove the host."
)
@click.option("-y", "yes", is_flag=True, help="Do not ask for confirmation.")
@click.argument("names", nargs=-1, required=True, metavar="NAME...", shell_complete=complete_machines)
def rm(force: bool, yes: bool, names: tuple[str, ...]) -> None:
    """Remove machines: the host (VM, instance) and the local record."""
    st = store()
    for name in names:
        if not st.exists(name):
            raise StoreError(f"machine {name!r} does not exist: see `machine ls`")
    if not yes:
        click.echo(f"About to remove {', '.join(names)}")
        click.echo("WARNING: This action will delete both local reference and remote instance.")
        if not click.confirm("Are you sure?"):
            raise SystemExit(1)
    failed = False
    for name in names:
        try:
            lifecycle().remove(name, force)
            click.echo(f"Successfully removed {name}")
        except Exception as e:
            click.echo(
                f"Error removing {name}: {e}"
                + ("" if force else f" (run `machine rm -f {name}` to remove the local record anyway)"),
                err=True,
            )
            failed = True
    if failed:
        raise SystemExit(1)


@click.command()
@name_argument
def provision(name: str | None) -> None:
    """Install (or repair) the container agent on a machine; safe to re-run."""
    machine = load(name)
    with store().lock(machine.name):
        version = lifecycle().provision(machine)
    progress(f"Agent {version} is running on {machine.name}")


@click.command()
@name_argument
def upgrade(name: str | None) -> None:
    """Replace the agent on a machine with this version; running containers keep running."""
    machine = load(name)
    with store().lock(machine.name):
        version = lifecycle().provision(machine, upgrade=True)
    progress(f"Agent upgraded to {version} on {machine.name}")


@click.command()
@name_argument
def version(name: str | None) -> None:
    """Print machine's version, or the agent version of machine NAME."""
    if name is None:
        click.echo(f"machine version {__version__}")
    else:
        click.echo(load(name).agent.get("version") or "unknown (run `machine provision`)")


COMMANDS = [create, ls, status, ip, url, inspect, start, stop, restart, kill, rm, provision, upgrade, version]
