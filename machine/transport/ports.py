"""Published container ports on the user's computer: 127.0.0.1:PORT forwarded into the guest.

Follows the agent's /events; after every container start/stop it re-reads the published ports and
opens or closes local listeners to match. Each accepted connection becomes a direct-tcpip channel to
127.0.0.1:PORT inside the guest, where the agent publishes the container's port.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import paramiko

from .relay import between
from .tunnel import Held, Link, Unavailable

log = logging.getLogger("machine.ports")

_EVENTS = '{"type":["container"],"event":["start","die","stop","kill","destroy","pause","unpause"]}'


class _ChannelSocket:
    """A paramiko channel as http.client wants a socket: makefile() gives a buffered reader with peek()."""

    def __init__(self, chan: Any):
        self._chan = chan

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_ChannelReader(self._chan))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chan, name)


class _ChannelReader(io.RawIOBase):
    def __init__(self, chan: Any):
        self._chan = chan

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self._chan.recv(len(buf))
        buf[: len(data)] = data
        return len(data)


class _ChannelHTTP(http.client.HTTPConnection):
    """HTTP to the agent over a streamlocal channel of the link."""

    def __init__(self, link: Link, agent_socket: str, timeout: float | None = 30):
        super().__init__("agent", timeout=timeout)
        self._link = link
        self._agent_socket = agent_socket

    def connect(self) -> None:
        chan = self._link.open_unix(self._agent_socket)
        chan.settimeout(self.timeout)
        self.sock = _ChannelSocket(chan)


def agent_get(link: Link, agent_socket: str, path: str) -> Any:
    """GET a JSON document from the agent through the link."""
    conn = _ChannelHTTP(link, agent_socket)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"agent answered {resp.status} to GET {path}: {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def published_ports(containers: list[dict[str, Any]]) -> dict[int, tuple[str, str]]:
    """Host port → (container name, guest address it listens on) for every published TCP port."""
    ports: dict[int, tuple[str, str]] = {}
    for c in containers:
        name = (c.get("Names") or ["/" + c.get("Id", "")[:12]])[0].lstrip("/")
        for p in c.get("Ports") or []:
            if p.get("PublicPort") and p.get("Type", "tcp") == "tcp":
                address = p.get("IP") or "0.0.0.0"
                ports[int(p["PublicPort"])] = (name, "127.0.0.1" if address in ("0.0.0.0", "::") else address)
    return ports


class _Listener:
    """127.0.0.1:port on the user's computer, forwarded to the same port in the guest."""

    def __init__(self, link: Link, port: int, guest_address: str):
        self.port = port
        self._guest_address = guest_address
        self._link = link
        self._sock = socket.create_server(("127.0.0.1", port), backlog=64)
        threading.Thread(target=self._accept, daemon=True, name=f"port-{port}").start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._forward, args=(conn,), daemon=True).start()

    def _forward(self, conn: socket.socket) -> None:
        try:
            chan = self._link.open_tcp(self._guest_address, self.port)
        except Exception as e:  # the guest refused, SSH is down, or the machine is saved: drop this client only
            if not isinstance(e, Held):
                log.warning("port %d: cannot reach the guest: %s", self.port, e)
            conn.close()
            return
        between(conn, chan)

    def close(self) -> None:
        self._sock.close()


class PortPublisher:
    """Keeps local listeners in step with the agent's published ports."""

    def __init__(self, link: Link, agent_socket: str, report: Callable[[set[int], dict[int, str]], None]):
        self._link = link
        self._agent_socket = agent_socket
        self._report = report  # told after each sync: the ports forwarded, and those it could not open (why)
        self._listeners: dict[int, _Listener] = {}
        self._closed = False

    def sync(self) -> None:
        containers = agent_get(self._link, self._agent_socket, "/containers/json")
        wanted = published_ports(containers)
        for port in set(self._listeners) - set(wanted):
            self._listeners.pop(port).close()
            log.info("port %d: no longer published", port)
        failed: dict[int, str] = {}
        for port, (name, address) in wanted.items():
            if port in self._listeners:
                continue
            try:
                self._listeners[port] = _Listener(self._link, port, address)
                log.info("port %d: forwarding 127.0.0.1:%d to container %s", port, port, name)
            except OSError as e:
                failed[port] = (
                    f"127.0.0.1:{port} is already in use on this computer ({e.strerror}); "
                    f"container {name}'s port is reachable only inside the machine"
                )
                log.error("port %d: %s", port, failed[port])
        self._report(set(self._listeners), failed)

    def run_forever(self) -> None:
        """Sync, then follow container events; after an outage, sync again; until close()."""
        while not self._closed:
            try:
                self.sync()
                self._follow()
            except Unavailable:
                time.sleep(2)  # SSH is down: the link logs its attempts
            except (OSError, EOFError, RuntimeError, http.client.HTTPException, paramiko.SSHException) as e:
                if self._closed:  # the tunnel exits, closing the link under the events it followed
                    return
                # also the agent not answering yet (its socket refused): it is restarting or still starting
                log.warning("following the agent's events failed (%s); retrying", e)
                time.sleep(1)

    def _follow(self) -> None:
        conn = _ChannelHTTP(self._link, self._agent_socket, timeout=None)
        try:
            conn.request("GET", "/events?filters=" + urllib.parse.quote(_EVENTS))
            resp = conn.getresponse()
            while line := resp.readline():
                if line.strip():
                    self.sync()
        finally:
            conn.close()

    def close(self) -> None:
        self._closed = True
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
