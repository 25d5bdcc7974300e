"""`machine mount`: share a folder of this computer with a machine, or stop sharing it, while it runs."""

from __future__ import annotations

import click

from .. import tunnels
from ..sharing import shares
from .common import complete_machines, lifecycle, load, progress, store


@click.command()
@click.option("-u", "--unmount", is_flag=True, help="Stop sharing what is mounted at PATH in the machine.")
@click.option("--ro", "readonly", is_flag=True, help="Read-only: the machine cannot change the folder.")
@click.option(
    "--cached",
    is_flag=True,
    help="Faster file metadata (5x for many small files): changes made on this computer show within 20 s, not 1 s.",
)
@click.argument("name", shell_complete=complete_machines)
@click.argument("path", metavar="LOCAL[:GUEST] | GUEST")
def mount(unmount: bool, readonly: bool, cached: bool, name: str, path: str) -> None:
    """Share the folder LOCAL of this computer at GUEST in machine NAME (default: the same path), or with -u stop
    sharing what is at GUEST. The machine's tunnel keeps shares mounted, also after `machine start`."""
    machine = load(name)
    with store().lock(machine.name):
        machine = load(name)
        if unmount:
            kept = [s for s in machine.shares if s.guest != path.rstrip("/") or path == "/"]
            if len(kept) == len(machine.shares):
                listed = ", ".join(s.guest for s in machine.shares) or "none"
                raise click.UsageError(f"nothing of this computer is shared at {path} in {name} (shares: {listed})")
            machine.shares = kept
        else:
            try:
                options = [option for option, on in (("ro", readonly), ("cached", cached)) if on]
                share = shares.parse(path + (":" + ",".join(options) if options else ""))
                machine.shares = shares.add(machine.shares, share)
            except shares.ShareError as e:
                raise click.UsageError(str(e)) from None
        store().save(machine)
    lifecycle().require_running(machine)
    mounted, failed = tunnels.update_shares(machine)
    if unmount:
        progress(f"{path} is no longer shared with {name}")
        return
    if share.guest not in mounted:
        raise click.ClickException(
            f"could not mount {share} in {name}: {failed.get(share.guest, 'it did not mount in time')}. "
            f"The tunnel keeps trying (see {machine.folder / 'tunnel.log'})"
        )
    progress(f"Shared {share} with {name}")


COMMANDS = [mount]
