"""The `machine` command line: global options, error reporting, and the command groups."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from drivers import DriverError

from .. import __version__
from ..lifecycle import NotRunning
from ..provision import ProvisionError
from ..store import StoreError
from ..transport.ssh import SSHError
from ..transport.tunnel import Unavailable
from ..tunnels import TunnelError
from ..vm.bootfiles import BootFilesError
from ..vm.images import ImageError
from . import completion, containers, env, guestimages, hosts, images, networks, shares, ssh, volumes


class MachineGroup(click.Group):
    """Reports failures as one `Error: ...` line (exit 1) instead of a traceback, unless --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            if os.environ.get("MACHINE_DEBUG"):
                raise
            message = str(e) or type(e).__name__
            if not _is_expected(e):
                message = f"unexpected {type(e).__name__}: {message} (run with --debug for details)"
            click.echo(f"Error: {message}", err=True)
            sys.exit(1)


def _is_expected(e: Exception) -> bool:
    return isinstance(
        e,
        (
            DriverError,
            ImageError,
            NotRunning,
            BootFilesError,
            ProvisionError,
            SSHError,
            StoreError,
            TunnelError,
            Unavailable,
            OSError,
        ),
    )


@click.group(cls=MachineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", "-D", is_flag=True, help="Show debug logs and tracebacks.")
@click.option(
    "--storage-path",
    "-s",
    envvar="MACHINE_STORAGE_PATH",
    metavar="PATH",
    help="Where machines are stored [env: MACHINE_STORAGE_PATH].",
)
@click.version_option(__version__, "--version", "-v", prog_name="machine", message="%(prog)s version %(version)s")
def cli(debug: bool, storage_path: str | None) -> None:
    """Create and manage Linux container hosts, and run containers on them."""
    if storage_path:
        os.environ["MACHINE_STORAGE_PATH"] = storage_path
    if debug:
        os.environ["MACHINE_DEBUG"] = "1"
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    else:
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)


for _module in (hosts, shares, ssh, env, guestimages, containers, images, volumes, networks, completion):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="machine")
