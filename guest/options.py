"""The agent's command line, read without argparse: argparse and what it imports (re, gettext) cost a tenth of a
second under TCG before the agent can answer. Errors are worded and exit as argparse's (status 2)."""

from __future__ import annotations

import sys

DEFAULT_SOCKET = "/run/machine/agent.sock"
DEFAULT_ROOT = "/var/lib/machine-agent"
USAGE = "usage: machine-agent [--help] [--version] [OPTION VALUE]... [--cleanup]"


class Option:
    """One `--flag`: `kind` is "text", "seconds", "many" (repeatable, a list) or "switch" (no value)."""

    def __init__(self, flag: str, help: str, default: object = None, kind: str = "text", choices: tuple[str, ...] = ()):
        self.flag, self.help, self.default, self.kind, self.choices = flag, help, default, kind, choices
        self.name = flag[2:].replace("-", "_")


OPTIONS = [
    Option("--socket", f"unix socket to serve (default {DEFAULT_SOCKET})", DEFAULT_SOCKET),
    Option("--root", f"state directory (default {DEFAULT_ROOT})", DEFAULT_ROOT),
    Option("--runtime", "OCI runtime (default auto: crun, else runc)", "auto", choices=("auto", "crun", "runc")),
    Option(
        "--insecure-registry", "HOST:PORT of a registry reached over plain HTTP (loopback ones always are)", kind="many"
    ),
    Option("--socket-group", "group allowed to use the socket (besides root)"),
    Option(
        "--cleanup",
        "on shutdown, stop all containers and remove the networks' bridges and firewall rules",
        False,
        kind="switch",
    ),
    Option(
        "--read-timeout",
        "longest wait in seconds for a request's head, for each piece of its body (default 60)",
        kind="seconds",
    ),
    Option(
        "--idle-timeout", "seconds a keep-alive connection may idle before it is closed (default 120)", kind="seconds"
    ),
    Option(
        "--log-level",
        "debug, info (the default), warning or error",
        "info",
        choices=("debug", "info", "warning", "error"),
    ),
]


class Arguments:
    """The values read, one attribute per option (its default where not given)."""

    socket: str
    root: str
    runtime: str
    insecure_registry: list[str]
    socket_group: str | None
    cleanup: bool
    read_timeout: float | None
    idle_timeout: float | None
    log_level: str

    def __init__(self) -> None:
        for option in OPTIONS:
            setattr(self, option.name, [] if option.kind == "many" else option.default)


def parse(argv: list[str], version: str) -> Arguments:
    """The options of `argv`; --help and --version print and exit 0, a mistake exits 2 with the usage."""
    known = {option.flag: option for option in OPTIONS}
    arguments = Arguments()
    words = iter(argv)
    for word in words:
        if word in ("-h", "--help"):
            print(_help())
            raise SystemExit(0)
        if word == "--version":
            print(f"machine-agent {version}")
            raise SystemExit(0)
        flag, equals, value = word.partition("=")
        option = known.get(flag)
        if option is None:
            raise mistake(f"unrecognized argument: {word}")
        if option.kind == "switch":
            if equals:
                raise mistake(f"argument {flag}: ignored explicit argument {value!r}")
            setattr(arguments, option.name, True)
            continue
        if not equals:
            given = next(words, None)
            if given is None:
                raise mistake(f"argument {flag}: expected one argument")
            value = given
        if option.choices and value not in option.choices:
            raise mistake(f"argument {flag}: invalid choice: {value!r} (choose from {', '.join(option.choices)})")
        if option.kind == "many":
            getattr(arguments, option.name).append(value)
        elif option.kind == "seconds":
            setattr(arguments, option.name, _seconds(flag, value))
        else:
            setattr(arguments, option.name, value)
    return arguments


def _seconds(flag: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise mistake(f"argument {flag}: invalid float value: {value!r}") from None


def _help() -> str:
    lines = [USAGE, "", "Docker Engine API on a unix socket", "", "options:"]
    for option in OPTIONS:
        lines.append(f"  {option.flag}{'' if option.kind == 'switch' else ' VALUE'}")
        lines.append(f"      {option.help}")
    return "\n".join(lines)


def mistake(message: str) -> SystemExit:
    print(f"{USAGE}\nmachine-agent: error: {message}", file=sys.stderr)
    return SystemExit(2)
