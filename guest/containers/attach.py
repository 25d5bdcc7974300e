"""Attaching to a container: before start, the attacher waits for conmon and start waits for the attacher (what
the container writes before an attacher connects never reaches it); then conmon's attach socket is relayed to the
client."""

from __future__ import annotations

import socket
import time
from typing import Callable

from .. import relay
from . import detachkeys, logs, monitor
from .record import Container
from .stdio import STDERR, STDOUT, Stdio, frame
from .store import ContainerStore

_STREAMS = {monitor.STDOUT: STDOUT, monitor.STDERR: STDERR}
REPLAY_PAUSE = 0.1  # seconds between the 101 answer and the logs of a replay


def attachers_ready(store: ContainerStore, c: Container) -> None:
    """Wake attach calls waiting for the conmon of `c`, and let them connect before start. Each attach call
    signals in a `finally` (connected or failed), so the timeout only bounds a stuck one; a busy guest (a VM
    booting under TCG) can take seconds."""
    waiters = c.attach_waiters
    if not waiters:
        return
    store.notify()
    for _ in range(waiters):
        c.attached.acquire(timeout=30)


def wait_created(
    store: ContainerStore, c: Container, timeout: float | None = None, gone: Callable[[], bool] = lambda: False
) -> bool:
    """Block until the container's conmon is up (attach socket ready); False when it is gone, its start failed,
    the client hung up (`gone`) or the time ran out."""
    deadline = None if timeout is None else time.monotonic() + timeout
    failures = c.failed_starts
    with store.changed:
        while True:
            if (c.bundle / "attach").exists() and monitor.conmon_pid(c.bundle):
                return True
            if not store.exists(c) or c.failed_starts != failures or gone():
                return False
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            store.changed.wait(min(remaining, 1.0) if remaining is not None else 1.0)


def session(
    store: ContainerStore,
    c: Container,
    connect: Callable[[], Stdio],
    replay: tuple[bool, bool] | None,
    stream: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    keys: bytes = detachkeys.DEFAULT,
) -> None:
    """One attach: `connect` answers the client, `replay` (stdout?, stderr?) sends the logs so far first, and
    with `stream` the live output follows (and stdin goes in) until the container's end, or until the client
    types the detach `keys` (with a TTY)."""
    waited = stream and not c.running  # only a streaming attach holds the start back until it is connected
    if waited:
        c.attach_waiters += 1
    try:
        conn = connect()
        if replay is not None:
            # docker-py reads an upgraded connection past http.client's buffer: what arrives together with the 101
            # is lost to it. The logs are at hand at once, so give the client the moment to take the headers.
            time.sleep(REPLAY_PAUSE)
            for record in logs.read(c.log_path, *replay):
                if record:
                    conn.write(record[2] if c.tty else frame(STDOUT if record[1] == "stdout" else STDERR, record[2]))
        if not stream or not wait_created(store, c, gone=conn.gone):
            conn.close_write()
            return
        sock = monitor.attach(c.bundle)
    finally:
        if waited:
            c.attach_waiters -= 1
            c.attached.release()
    _pump(c, conn, sock, stdin, stdout, stderr, keys)


def _pump(c: Container, conn: Stdio, sock: socket.socket, stdin: bool, stdout: bool, stderr: bool, keys: bytes) -> None:
    """conmon's attach socket <-> the client's connection: each packet from conmon starts with its stream."""

    def deliver(packet: bytes) -> None:
        stream = _STREAMS.get(packet[0])
        if stream is None or (stream == STDOUT and not stdout) or (stream == STDERR and not stderr):
            return
        conn.write(packet[1:] if c.tty else frame(stream, packet[1:]))

    if stdin and c.data["Config"].get("OpenStdin"):
        if c.tty:  # Docker reads the detach keys only from a TTY's input
            watch = detachkeys.Watch(keys)
            relay.pump_in_background(watch.reader(conn.read), sock.sendall, lambda: _end_input(sock, watch.detached))
        else:
            relay.pump_in_background(conn.read, sock.sendall, relay.half_closer(sock))
    try:
        relay.pump(relay.receiver(sock), deliver)
    finally:
        sock.close()
        conn.close_write()


def _end_input(sock: socket.socket, detached: bool) -> None:
    """The client's input ended: passed on as the end of the container's input, or (detached) the session ends
    here, which wakes the output relay; the container runs on."""
    sock.shutdown(socket.SHUT_RDWR if detached else socket.SHUT_WR)
