"""Commands that reach into a machine: ssh and scp."""

from __future__ import annotations

from pathlib import Path

import click

from ..transport.ssh import Session, SSHError, connect
from .common import complete_machines, load


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("name", shell_complete=complete_machines)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh(name: str, command: tuple[str, ...]) -> None:
    """Log into a machine, or run COMMAND on it (its exit code is passed through).

    As with ssh, the words of COMMAND are joined and run by the machine's shell.

    \b
      machine ssh dev
      machine ssh dev -- uname -a
      machine ssh dev 'df -h / && free -m'
    """
    with Session(connect(load(name).ssh_target)) as session:
        raise SystemExit(session.interactive(list(command)))


def split_location(arg: str) -> tuple[str | None, str]:
    """`NAME:path` -> (NAME, path); a local path (including C:\\ on Windows and ./a:b) -> (None, path)."""
    name, sep, path = arg.partition(":")
    if not sep or "/" in name or "\\" in name or (len(name) == 1 and name.isalpha() and path.startswith("\\")):
        return None, arg
    return name, path or "."


@click.command()
@click.option("-r", "--recursive", is_flag=True, help="Copy directories recursively.")
@click.argument("source")
@click.argument("destination")
def scp(recursive: bool, source: str, destination: str) -> None:
    """Copy files between this computer and a machine: `machine scp [-r] [NAME:]SRC [NAME:]DST`."""
    src_machine, src = split_location(source)
    dst_machine, dst = split_location(destination)
    if src_machine and dst_machine:
        raise SSHError("copying between two machines is not supported: copy to this computer first")
    if not src_machine and not dst_machine:
        raise SSHError("one side must be on a machine: NAME:PATH")
    with Session(connect(load(src_machine or dst_machine).ssh_target)) as session:
        if dst_machine:
            if not Path(src).exists():
                raise SSHError(f"{src}: no such file or directory")
            session.upload(Path(src), dst, recursive)
        else:
            session.download(src, Path(dst), recursive)


COMMANDS = [ssh, scp]
