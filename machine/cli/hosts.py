"""Host commands: create, ls, status, ip, url, inspect, start, stop, restart, kill, rm, provision, upgrade."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

import drivers
from drivers import DriverError, State

from .. import __version__, tunnels
from ..agent import AgentLocation
from ..sharing import shares
from ..store import Machine, StoreError
from . import template
from .common import (
    complete_machines,
    lifecycle,
    load,
    name_argument,
    names_argument,
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
    metavar="LOCAL[:GUEST][:OPTIONS]",
    help="Share a folder of this computer with the machine (repeatable; a VM on this computer shares your home "
    "folder unless told otherwise). OPTIONS: ro, cached (faster metadata; changes show within 20 s), or ro,cached.",
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


_FIELDS = {  # the `{{.Field}}`s of `ls --format` and their table headers, as docker-machine's
    "Name": "NAME",
    "Active": "ACTIVE",
    "DriverName": "DRIVER",
    "State": "STATE",
    "URL": "URL",
    "DockerVersion": "DOCKER",
    "Error": "ERRORS",
    "ResponseTime": "RESPONSE",
}
_NO_SWARM = "machine has no Docker Swarm (classic), so there is no swarm to show or filter on"
_REFUSED_FIELDS = {
    "Swarm": _NO_SWARM,
    "SwarmOptions": _NO_SWARM,
    "ActiveSwarm": _NO_SWARM,
    "EngineOptions": "machine has no engine options (the agent is not dockerd)",
}
_DEFAULT_FORMAT = "table {{.Name}}\t{{.Active}}\t{{.DriverName}}\t{{.State}}\t{{.URL}}\t{{.DockerVersion}}\t{{.Error}}"
_TIMEOUT = "timeout"  # the state of a machine that did not answer within --timeout (docker-machine's Timeout)
_STATES = [str(s) for s in State] + [_TIMEOUT]


def _state_row(machine: Machine, active: str | None) -> dict[str, Any]:
    began = time.monotonic()
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
        "ResponseTime": round(time.monotonic() - began, 3),
    }


def _error_row(name: str, driver: str, state: str, error: str, active: str | None, seconds: float) -> dict[str, Any]:
    return {
        "Name": name,
        "Active": name == active,
        "DriverName": driver,
        "State": state,
        "URL": "",
        "DockerVersion": "",
        "Error": error,
        "ResponseTime": seconds,
    }


def _shown(row: dict[str, Any]) -> dict[str, str]:
    """A row's values as the table shows them."""
    return {
        **row,
        "Active": "*" if row["Active"] else "-",
        "State": row["State"].capitalize().replace("-", " "),
        "DockerVersion": row["DockerVersion"] and f"v{row['DockerVersion']}",
        "ResponseTime": _duration(row["ResponseTime"]),
    }


def _duration(seconds: float) -> str:
    """Seconds as Go prints a time.Duration rounded to milliseconds (12ms, 1.5s, 2m3s), as docker-machine's
    ResponseTime."""
    ms = round(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    minutes, ms = divmod(ms, 60_000)
    hours, minutes = divmod(minutes, 60)
    secs = f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "") + secs


def _natural(name: str) -> list[Any]:
    """Sort key of names as docker-machine orders them: case-insensitive, digit runs by value (m2 < m10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower())]


@dataclass
class _Filters:
    """`ls --filter`s, as docker-machine's: a name is a regular expression searched in the name; driver and
    state compare case-insensitively; different keys must all match, repeated ones any."""

    names: list[re.Pattern[str]] = field(default_factory=list)
    drivers: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)

    def record(self, name: str, driver: str) -> bool:
        return (not self.names or any(p.search(name) for p in self.names)) and (
            not self.drivers or driver.lower() in self.drivers
        )

    def row(self, row: dict[str, Any]) -> bool:
        return not self.states or row["State"] in self.states


def _parse_filter(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> _Filters:
    filters = _Filters()
    for value in values:
        key, sep, wanted = value.partition("=")
        key = key.lower()
        if key == "swarm":
            raise click.BadParameter(f"{value!r}: {_NO_SWARM}", ctx, param)
        if key == "label":
            raise click.BadParameter(f"{value!r}: machines have no engine labels (not dockerd)", ctx, param)
        if not sep or key not in ("name", "driver", "state"):
            raise click.BadParameter(f"{value!r}: use name=REGEX, driver=DRIVER or state=STATE", ctx, param)
        if key == "name":
            try:
                filters.names.append(re.compile(wanted))
            except re.error as e:
                raise click.BadParameter(f"{value!r}: not a regular expression ({e})", ctx, param) from None
        elif key == "driver":
            filters.drivers.append(wanted.lower())
        else:
            state = wanted.lower().replace(" ", "-")
            if state not in _STATES:
                raise click.BadParameter(f"{value!r}: states are {', '.join(_STATES)}", ctx, param)
            filters.states.append(state)
    return filters


def _parse_format(ctx: click.Context, param: click.Parameter, value: str) -> template.Template | None:
    """None for `json`, which prints each row as a JSON object (as `{{json .}}`)."""
    if value == "json":
        return None
    try:
        return template.parse(_DEFAULT_FORMAT if value == "table" else value, _FIELDS, _REFUSED_FIELDS)
    except template.TemplateError as e:
        raise click.BadParameter(str(e), ctx, param) from None


def _probe(machines: list[Machine], active: str | None, timeout: float) -> dict[str, dict[str, Any]]:
    """Every machine's row, all asked at once, each given `timeout` seconds: one that does not answer in time
    is a `timeout` row and its thread is left behind (a daemon: it never delays the exit)."""
    rows: dict[str, dict[str, Any]] = {}

    def probe(machine: Machine) -> None:
        rows[machine.name] = _state_row(machine, active)

    threads = [threading.Thread(target=probe, args=(m,), daemon=True) for m in machines]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    answered = dict(rows)
    late = f"no answer within {timeout:g}s (raise it with --timeout)"
    return {
        m.name: answered.get(m.name) or _error_row(m.name, m.driver, _TIMEOUT, late, active, timeout) for m in machines
    }


@click.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only print machine names.")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    callback=_parse_filter,
    metavar="KEY=VALUE",
    help="Only machines with name=REGEX, driver=DRIVER or state=STATE (repeatable).",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    default="table",
    callback=_parse_format,
    metavar="FORMAT",
    help="table, json, or a Go-template-style format: {{.Field}} ({{json .}}, {{json .Field}}); a 'table ' "
    f"prefix prints headers. Fields: {', '.join(_FIELDS)}.",
)
@click.option(
    "-t",
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for the machines' states (all are asked at once); late ones show Timeout.",
)
def ls(quiet: bool, filters: _Filters, fmt: template.Template | None, timeout: float) -> None:
    """List machines, their state and where their docker endpoint is."""
    st = store()
    active = st.active()
    machines: list[Machine] = []
    broken: dict[str, dict[str, Any]] = {}
    for name in sorted(st.names(), key=_natural):
        try:
            machine = st.load(name)
        except StoreError as e:
            if filters.record(name, ""):
                broken[name] = _error_row(name, "", str(State.ERROR), str(e), active, 0.0)
            continue
        if filters.record(name, machine.driver):
            machines.append(machine)
    if quiet and not filters.states:  # names only: no machine is asked anything
        for name in sorted([*broken, *(m.name for m in machines)], key=_natural):
            click.echo(name)
        return
    rows = {**broken, **_probe(machines, active, timeout)}
    shown = [rows[name] for name in sorted(rows, key=_natural) if filters.row(rows[name])]
    if quiet:
        for row in shown:
            click.echo(row["Name"])
    elif fmt is None:
        for row in shown:
            click.echo(json.dumps(row))
    elif fmt.table:
        lines = [template.header(fmt, _FIELDS), *(fmt.render(_shown(row), row) for row in shown)]
        click.echo("\n".join(template.align("\n".join(lines).split("\n"))))
    else:
        for row in shown:
            click.echo(fmt.render(_shown(row), row))


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
