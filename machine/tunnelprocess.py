"""The tunnel process of one machine (`python -m machine.tunnelprocess --storage-path ROOT [--resumed]
[--boot-wait SECONDS] NAME`, started detached by `tunnels.ensure`): it forwards the docker socket and the published
ports, and keeps the machine's shares mounted, until SIGTERM; it exits by itself once the machine is removed or no
longer running.

While the machine's state is saved it holds its SSH connection (SIGUSR1, then it makes `tunnel.held`; SIGUSR2 ends
that): the resumed machine is reached again on it, its clock stepped first, with no new handshake. Started with
`--resumed` (when no tunnel was held), its first connection steps the clock. Started with `--boot-wait` for a
machine that is booting, its first connection waits for the machine's SSH server: it is the boot's one SSH login.

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
from .transport.streamlocal import Refused, open_streamlocal
from .transport.tunnel import Link, SocketForwarder, Unavailable
from .tunnels import HELD, PORTS, socket_path, use_tcp

log = logging.getLogger("machine.tunnel")

CHECK_EVERY = 5.0  # seconds between checks that the machine still exists, and its state while SSH is down
CHECK_UP_EVERY = 60.0  # seconds between state checks while SSH is up (a VM killed behind SSH's back)
RESUME_WAIT = 5.0  # seconds for the clock step of a resumed machine (0.3 s measured): a kept connection that
# stalls longer is replaced by a new one
_GONE = (State.STOPPED, State.NOT_FOUND)


def ended(store: Store, name: str, link: Link, interval: float = CHECK_EVERY) -> str:
    """Block until the machine is removed or no longer running (held: until its host is gone); returns why."""
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
        if state is State.NOT_FOUND or (state in _GONE and not link.held):
            return f"machine {name} is {state}"


def step_clock(store: Store, name: str) -> Callable[[paramiko.Transport], None]:
    """What the link runs first on a resumed machine: its agent steps the clock (guestclock.py). Raises when the
    connection does not work (or stalls); an agent that refuses or fails is only logged."""

    def step(transport: paramiko.Transport) -> None:
        try:
            channel = open_streamlocal(transport, store.load(name).agent_location.socket, timeout=RESUME_WAIT)
        except Refused as e:  # the connection works: the agent does not
            log.warning("cannot step the clock of the resumed machine %s: %s", name, e)
            return
        try:
            channel.settimeout(RESUME_WAIT)
            channel.sendall(guestclock.resume_request())
            answer = b"".join(iter(lambda: channel.recv(65536), b""))
        finally:
            channel.close()
        status = answer.partition(b"\r\n")[0].decode(errors="replace")
        if status.startswith("HTTP/1.1 204"):
            log.info("clock of the resumed machine %s stepped", name)
        else:
            reason = answer.partition(b"\r\n\r\n")[2].decode(errors="replace").strip() or status or "no answer"
            log.warning("cannot step the clock of the resumed machine %s: %s", name, reason[:300])

    return step


def boot_connect(target: Callable[[], ssh.Target], boot_wait: float) -> Callable[[], paramiko.Transport]:
    """How the link connects: its first connection to a booting machine waits up to `boot_wait` seconds for the SSH
    server (ssh.wait_for_ssh: a new attempt at least each second); the others are single attempts (the link's own
    backoff spaces them)."""

    def connect() -> paramiko.Transport:
        nonlocal boot_wait
        wait, boot_wait = boot_wait, 0.0
        if wait:
            return ssh.wait_for_ssh(target(), wait, progress=lambda said: log.info("%s: the machine boots", said))
        return ssh.connect(target())

    return connect


def serve(store: Store, name: str, resumed: bool = False, boot_wait: float = 0.0) -> None:
    """Forward the docker socket and published ports until SIGTERM, or until the machine is gone."""
    machine = store.load(name)
    location = machine.agent_location
    link = Link(boot_connect(lambda: store.load(name).ssh_target, boot_wait), step_clock(store, name), resumed)
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
        for leftover in ("tunnel.pid", PORTS, mounts.REPORT, HELD):
            (machine.folder / leftover).unlink(missing_ok=True)
        os._exit(0)

    def on_signal(signum: int, frame: object) -> None:
        shutdown(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def hold() -> None:
        link.hold("its state is saved")
        (machine.folder / HELD).touch()
        log.info("tunnel for %s holds its connection while the machine is saved", name)

    def release() -> None:
        log.info("machine %s was resumed: the tunnel serves again", name)
        link.release()
        (machine.folder / HELD).unlink(missing_ok=True)
        try:
            link.transport()  # steps the clock now, before anything else uses the link
        except Unavailable as e:
            log.warning("the resumed machine %s cannot be reached: %s", name, e)

    if hasattr(signal, "SIGHUP"):  # `machine mount` changed the shares (elsewhere the next check sees it)
        signal.signal(signal.SIGHUP, lambda signum, frame: shares.wake.set())
    if hasattr(signal, "SIGUSR1"):  # tunnels.hold and tunnels.ensure (POSIX only: elsewhere the tunnel is stopped)
        signal.signal(signal.SIGUSR1, lambda signum, frame: threading.Thread(target=hold, daemon=True).start())
        signal.signal(signal.SIGUSR2, lambda signum, frame: threading.Thread(target=release, daemon=True).start())
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
    parser.add_argument(
        "--boot-wait", type=float, default=0.0, metavar="SECONDS", help="the machine boots: wait this long for SSH"
    )
    parser.add_argument("name")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    serve(Store(Path(args.storage_path)), args.name, args.resumed, args.boot_wait)


if __name__ == "__main__":
    main()
