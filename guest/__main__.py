"""Run the agent: `python3 -m guest [--socket PATH] [--root DIR] [--runtime auto|crun|runc]`.

It serves at once: the socket answers /_ping (and systemd hears READY) before the engine and the other routes are
imported, which takes seconds under TCG; requests for those wait until they are loaded (Router.complete).
"""

from __future__ import annotations

import argparse
import grp
import logging
import os
import resource
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .api import ping
from .api.http import Router, Server
from .api.http.timeouts import Limits

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger("guest")

DEFAULT_SOCKET = "/run/machine/agent.sock"
DEFAULT_ROOT = "/var/lib/machine-agent"


def notify_ready() -> None:
    """Tell systemd (Type=notify) that the socket is served; units ordered after the agent start only now."""
    address = os.environ.pop("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(b"READY=1", address)
        except OSError as e:
            log.warning("cannot notify systemd that the agent is ready: %s", e)


def normal_priority() -> None:
    """Back to the normal priority once the agent serves: its unit starts it ahead of the rest of the boot
    (Nice=-10), but its later work and the containers it starts (which inherit it) run as everything else."""
    if os.getpriority(os.PRIO_PROCESS, 0) < 0:
        os.setpriority(os.PRIO_PROCESS, 0, 0)  # this thread's; the threads it starts from now on inherit it


def raise_open_files_limit() -> None:
    """Open files up to the hard limit, as Go programs (dockerd) do: every connection is one (containers get
    their own limit in their spec)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as e:
            log.warning("cannot raise the open files limit to %s: %s", hard, e)


def main(argv: list[str] | None = None) -> int:
    defaults = Limits()
    parser = argparse.ArgumentParser(prog="machine-agent", description="Docker Engine API on a unix socket")
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help=f"unix socket to serve (default {DEFAULT_SOCKET})")
    parser.add_argument("--root", default=DEFAULT_ROOT, help=f"state directory (default {DEFAULT_ROOT})")
    parser.add_argument("--runtime", default="auto", choices=["auto", "crun", "runc"], help="OCI runtime")
    parser.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="registry reached over plain HTTP (loopback registries always are)",
    )
    parser.add_argument("--socket-group", metavar="GROUP", help="group allowed to use the socket (besides root)")
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help="on shutdown, stop all containers and remove the networks' bridges and firewall rules",
    )
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=defaults.read,
        metavar="SECONDS",
        help=f"longest wait for a request's head, for each piece of its body (default {defaults.read:g})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=defaults.idle,
        metavar="SECONDS",
        help=f"close a keep-alive connection idle this long (default {defaults.idle:g})",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--version", action="version", version=f"machine-agent {__version__}")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise_open_files_limit()
    try:
        group = grp.getgrnam(args.socket_group).gr_gid if args.socket_group else None
    except KeyError:
        parser.error(f"no such group: {args.socket_group}")
    limits = Limits(read=args.read_timeout, idle=args.idle_timeout)
    router = Router(complete=False)  # the other routes are added by load()
    ping.register(router)
    server = Server(args.socket, router, group=group, limits=limits)
    engine: Engine | None = None
    failed = threading.Event()

    def load() -> None:
        """Open the engine, add the other routes, then start the start-up work (all in the background)."""
        nonlocal engine
        try:
            from .api import routes
            from .engine import Engine

            opened = Engine.open(Path(args.root), args.runtime, set(args.insecure_registry))
            routes.register(router, opened)
        except Exception:
            log.exception("the agent cannot open its state in %s", args.root)
            failed.set()
            router.complete.set()  # no request waits forever; the agent exits (systemd starts it again)
            server.shutdown()
            return
        engine = opened
        opened.start_up()

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("machine-agent %s serving on %s (state in %s)", __version__, args.socket, args.root)
    notify_ready()
    normal_priority()
    threading.Thread(target=load, name="load", daemon=True).start()
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if args.cleanup and engine is not None:
            engine.containers.shutdown()
    return 1 if failed.is_set() else 0


if __name__ == "__main__":
    sys.exit(main())
