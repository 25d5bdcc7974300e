"""Run the agent: `python3 -m guest [--socket PATH] [--root DIR] [--runtime auto|crun|runc]`.

It answers /_ping from the moment it listens: until the server's modules are loaded (half a second under TCG),
http/early.py answers pings on a thread of its own and holds every other connection; the server then serves those.
Systemd hears READY once the socket answers. Requests that need the engine wait until it is open (Router.complete).

Before it answers, the agent imports only what listening and the ping need (no socket, threading, logging, re,
typing, json, argparse or pathlib: together as long again as Python's own start under TCG);
tests/unit/guest/test_agent_start.py holds that line.
"""

from __future__ import annotations

import _socket
import grp
import os
import sys
import time

from . import __version__, options
from .api.http import early
from .api.http.listener import listen

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads the name the same way
if TYPE_CHECKING:
    from .api.http.server import Server
    from .engine import Engine


YIELDING = 10  # the nice value of work that waits for no request


def notify_ready() -> None:
    """Tell systemd (Type=notify) that the socket answers; units ordered after the agent start only now."""
    address = os.environ.pop("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
    try:
        sock.sendto(b"READY=1", address)
    except OSError as e:
        print(f"cannot notify systemd that the agent is ready: {e}", file=sys.stderr)
    finally:
        sock.close()


def log_before_logging(level: str, message: str) -> None:
    """`message` on stderr (the journal) at INFO, as `logging` prints it once it is loaded (unless `level`, the
    --log-level, asks for less)."""
    if level in ("debug", "info"):
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        print(f"{stamp},{int(now * 1000) % 1000:03d} INFO guest: {message}", file=sys.stderr, flush=True)


def normal_priority() -> None:
    """Back to the normal priority for the calling thread (and the threads it starts from now on): the unit starts
    the agent ahead of the rest of the boot (Nice=-10) until it serves, but its later work and the containers it
    starts (which inherit it) run as everything else."""
    if os.getpriority(os.PRIO_PROCESS, 0) < 0:
        os.setpriority(os.PRIO_PROCESS, 0, 0)  # on Linux, the calling thread's


class Yielding:
    """The calling thread at a low priority (nice YIELDING) meanwhile: opening the engine waits for no request, and
    at boot it took the CPU from the login that `machine start` waits for (see LATE_UNITS in machine/vm/guestimage.py).
    Only root may return to the normal priority, so only root lowers it (what the thread starts meanwhile inherits
    it)."""

    def __enter__(self) -> None:
        self.before = os.getpriority(os.PRIO_PROCESS, 0) if os.geteuid() == 0 else None
        if self.before is not None:
            os.setpriority(os.PRIO_PROCESS, 0, YIELDING)

    def __exit__(self, *exc: object) -> None:
        if self.before is not None:
            os.setpriority(os.PRIO_PROCESS, 0, self.before)


def raise_open_files_limit() -> None:
    """Open files up to the hard limit, as Go programs (dockerd) do: every connection is one (containers get
    their own limit in their spec)."""
    import logging
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as e:
            logging.getLogger("guest").warning("cannot raise the open files limit to %s: %s", hard, e)


class Agent:
    """After it listens: the main thread loads the server while early.py answers pings, then runs the server; an
    `engine` thread opens the engine and does its start-up work."""

    def __init__(self, args: options.Arguments, listener: _socket.socket):
        self.args = args
        self.listener = listener
        self.engine: Engine | None = None
        self.failed = False

    def run(self) -> int:
        answering = early.Early(self.listener)  # at the unit's priority, as the loading
        notify_ready()
        log_before_logging(self.args.log_level, f"answering /_ping on {self.args.socket} while the server loads")
        server = self._server(answering)
        normal_priority()  # this thread's, and the engine thread's, which inherits it
        import signal
        import threading

        def stop(signum: int, frame: object) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        threading.Thread(target=self._open_engine, args=(server,), name="engine", daemon=True).start()
        try:
            server.serve_forever()
        finally:
            server.server_close()
            if self.args.cleanup and self.engine is not None:
                self.engine.containers.shutdown()
        return 1 if self.failed else 0

    def _server(self, answering: early.Early) -> Server:
        """Load the server's modules and logging while early.py answers (this thread imports `threading` first, see
        early.Early); then stop early.py and serve the listener and the connections it held. The router has
        /_ping only: the other routes are added once the engine is open."""
        import logging

        from .api import ping
        from .api.http.router import Router
        from .api.http.server import Server
        from .api.http.timeouts import Limits

        logging.basicConfig(level=self.args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        raise_open_files_limit()
        read, idle = self.args.read_timeout, self.args.idle_timeout
        defaults = Limits()
        limits = Limits(read=defaults.read if read is None else read, idle=defaults.idle if idle is None else idle)
        router = Router(complete=False)
        ping.register(router)
        held = answering.end()
        server = Server(self.listener, router, limits=limits)
        for sock in held:
            server.adopt(sock)
        logging.getLogger("guest").info(
            "machine-agent %s serving on %s (state in %s)", __version__, self.args.socket, self.args.root
        )
        return server

    def _open_engine(self, server: Server) -> None:
        import logging
        from pathlib import Path

        try:
            with Yielding():  # its modules, then its state; the start-up work, which starts containers, does not
                from .api import routes
                from .engine import Engine

                opened = Engine.open(Path(self.args.root), self.args.runtime, set(self.args.insecure_registry))
                routes.register(server.router, opened)
        except Exception:
            logging.getLogger("guest").exception("the agent cannot open its state in %s", self.args.root)
            self.failed = True
            server.router.complete.set()  # no request waits forever; the agent exits (systemd starts it again)
            server.shutdown()
            return
        self.engine = opened
        opened.start_up()


def main(argv: list[str] | None = None) -> int:
    args = options.parse(sys.argv[1:] if argv is None else argv, __version__)
    try:
        group = grp.getgrnam(args.socket_group).gr_gid if args.socket_group else None
    except KeyError:
        raise options.mistake(f"no such group: {args.socket_group}") from None
    return Agent(args, listen(args.socket, group=group)).run()


if __name__ == "__main__":
    sys.exit(main())
