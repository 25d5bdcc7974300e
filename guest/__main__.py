"""Run the agent: `python3 -m guest [--socket PATH] [--root DIR] [--runtime auto|crun|runc]`."""

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

from . import __version__
from .api import build_router
from .api.http import Server
from .api.http.timeouts import Limits
from .engine import Engine

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
            logging.getLogger("guest").warning("cannot notify systemd that the agent is ready: %s", e)


def raise_open_files_limit() -> None:
    """Open files up to the hard limit, as Go programs (dockerd) do: every connection is one (containers get
    their own limit in their spec)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as e:
            logging.getLogger("guest").warning("cannot raise the open files limit to %s: %s", hard, e)


def main(argv: list[str] | None = None) -> int:
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
        default=Limits.read,
        metavar="SECONDS",
        help=f"longest wait for a request's head, for each piece of its body (default {Limits.read:g})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=Limits.idle,
        metavar="SECONDS",
        help=f"close a keep-alive connection idle this long (default {Limits.idle:g})",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--version", action="version", version=f"machine-agent {__version__}")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise_open_files_limit()
    engine = Engine.open(Path(args.root), args.runtime, set(args.insecure_registry))
    try:
        group = grp.getgrnam(args.socket_group).gr_gid if args.socket_group else None
    except KeyError:
        parser.error(f"no such group: {args.socket_group}")
    limits = Limits(read=args.read_timeout, idle=args.idle_timeout)
    server = Server(args.socket, build_router(engine), group=group, limits=limits)

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("guest").info("machine-agent %s serving on %s (state in %s)", __version__, args.socket, args.root)
    notify_ready()
    engine.start_up()
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if args.cleanup:
            engine.containers.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
