"""What the command modules share: the store and the lifecycle, resolving the machine a command is about,
progress."""

from __future__ import annotations

from pathlib import Path

import click
from click.shell_completion import CompletionItem

from ..lifecycle import Lifecycle
from ..progress import Console
from ..store import Machine, Store, StoreError

progress = Console()  # what long work tells on stderr: lines, and a line redrawn in place on a terminal


def store() -> Store:
    return Store()


def lifecycle() -> Lifecycle:
    return Lifecycle(store(), progress)


def machine_name(name: str | None) -> str:
    """The named machine, else the active one ($MACHINE_NAME, or the one chosen with `machine use`)."""
    if name:
        return name
    active = store().active()
    if not active:
        raise StoreError(
            "no machine given and none is active: pass a machine NAME, or pick one with `machine use NAME`"
        )
    return active


def load(name: str | None) -> Machine:
    return store().load(machine_name(name))


def docker_host(machine: Machine) -> str:
    """DOCKER_HOST of a running machine, its tunnel started (else an error naming `machine start`)."""
    return lifecycle().docker_host(machine)


def print_table(rows: list[list[str]]) -> None:
    """Rows as the docker CLI prints tables: columns padded to their widest cell, three spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def complete_machines(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion of machine names (in the store --storage-path names, when given)."""
    root = ctx.find_root().params.get("storage_path")
    names = Store(Path(root).expanduser() if root else None).names()
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


name_argument = click.argument("name", required=False, metavar="[NAME]", shell_complete=complete_machines)
names_argument = click.argument("names", nargs=-1, metavar="[NAME...]", shell_complete=complete_machines)
