"""The tunnel process of one machine (`python -m machine.tunnelprocess --storage-path ROOT [--resumed] NAME`,
started detached by `tunnels.ensure`): it forwards the docker socket and the published ports, and keeps the
machine's shares mounted, until SIGTERM; it exits by itself once the machine is removed or no longer running.
After a resume, its first connection steps the guest's clock before anything else uses it.

Its log, `tunnel.log` in the machine's folder, has a timed line for each SSH connect, drop, failed
attempt and reconnect, and says why the process ended.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paramiko

from drivers import State

from . import guestclock
from .lifecycle import Lifecycle
from .sharing import mounts
from .store import Store
from .transport import ssh
from .transport.ports import PortPublisher
from .transport.tunnel import Link, SocketForwarder
from .tunnels import PORTS, socket_path, use_tcp

log = logging.getLogger("machine.tunnel")

CHECK_EVERY = 5.0  # seconds between checks that the machine still exists, and its state while SSH is down
CHECK_UP_EVERY = 60.0  # seconds between state checks while SSH is up (a VM killed behind SSH's back)
_GONE = (State.STOPPED, State.NOT_FOUND)


def ended(store: Store, name: str, link: Link, interval: float = CHECK_EVERY) -> str:
    """Block until the machine is removed or no longer running; returns why, for the log."""
    last_check = time.monotonic()
    while True:
        time.sleep(interval)
        if not (store.folder(name) / "config.json").exists():
            return f"machine {name} was removed"
        if link.is_up() and time.monotonic() - last_check < CHECK_UP_EVERY:
            continue
        last_check = time.monotonic()
        try:
            state = Lifecycle(store).state(store.load(name))
        except Exception as e:  # an unreadable record or an unreachable backend: keep serving, check later
            log.warning("cannot check the state of %s: %s", name, e)
            continue
        if state in _GONE:
            return f"machine {name} is {state}"


def connector(store: Store, name: str, resumed: bool) -> Callable[[], paramiko.Transport]:
    """How the link connects to the machine; after a resume, the first connection steps the guest's clock before
    anything else uses it (guestclock.py)."""
    pending = resumed

    def connect() -> paramiko.Transport:
        nonlocal pending
        machine = store.load(name)
        transport = ssh.connect(machine.ssh_target)
        if pending:
            pending = False
            try:
                status, _, why = ssh.Session(transport).run(guestclock.resume_command(machine.ssh_user), 30)
            except (ssh.SSHError, paramiko.SSHException, OSError) as e:
                status, why = -1, str(e)
            if status != 0:
                log.warning("cannot step the clock of the resumed machine %s: %s", name, why.strip())
        return transport

    return connect


def serve(store: Store, name: str, resumed: bool = False) -> None:
    """Forward the docker socket and published ports until SIGTERM, or until the machine is gone."""
    machine = store.load(name)
    location = machine.agent_location
    link = Link(connector(store, name, resumed))
    forwarder = SocketForwarder(name, link, socket_path(machine), location.socket, tcp=use_tcp())

    def report(forwarded: set[int], unavailable: dict[int, str]) -> None:
        tmp = machine.folder / f".{PORTS}.tmp"
        tmp.write_text(json.dumps({"forwarded": sorted(forwarded), "unavailable": unavailable}))
        os.replace(tmp, machine.folder / PORTS)

    publisher = PortPublisher(link, location.socket, report)

    def report_shares(status: dict[str, object]) -> None:
        tmp = machine.folder / f".{mounts.REPORT}.tmp"
        tmp.write_text(json.dumps(status))
        os.replace(tmp, machine.folder / mounts.REPORT)

    shares = mounts.ShareMounts(link, lambda: store.load(name).shares, machine.ssh_user != "root", report_shares)

    def shutdown(why: str) -> None:
        log.info("tunnel for %s exits: %s", name, why)
        forwarder.close()
        publisher.close()
        shares.close()
        link.close()
        for leftover in ("tunnel.pid", PORTS, mounts.REPORT):
            (machine.folder / leftover).unlink(missing_ok=True)
        os._exit(0)

    def on_signal(signum: int, frame: object) -> None:
        shutdown(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGHUP"):  # `machine mount` changed the shares (elsewhere the next check sees it)
        signal.signal(signal.SIGHUP, lambda signum, frame: shares.wake.set())
    forwarder.listen()
    (machine.folder / "tunnel.pid").write_text(f"{os.getpid()}\n")
    threading.Thread(target=publisher.run_forever, daemon=True).start()
    threading.Thread(target=shares.run_forever, daemon=True).start()
    threading.Thread(target=lambda: shutdown(ended(store, name, link)), daemon=True).start()
    log.info("tunnel for %s listening on %s", name, socket_path(machine))
    forwarder.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m machine.tunnelprocess", description=__doc__)
    parser.add_argument("--storage-path", required=True)
    parser.add_argument("--resumed", action="store_true", help="the machine was just resumed: step its clock first")
    parser.add_argument("name")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    serve(Store(Path(args.storage_path)), args.name, args.resumed)


if __name__ == "__main__":
    main()
