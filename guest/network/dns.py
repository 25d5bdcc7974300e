"""The embedded DNS server of user networks: on each network's gateway address, port 53 (UDP).

It answers A queries for the names and aliases of containers on the network the query came from
(and nothing else: other networks' containers stay unknown), and forwards every other query to the
host's own nameservers, so containers still resolve the outside world.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from typing import Callable, Optional

from .resolv import host_nameservers

log = logging.getLogger("guest.dns")

Lookup = Callable[[str, str], Optional[str]]  # (querier address, name) -> address on the querier's network


def question(packet: bytes) -> tuple[str, int, int]:
    """(name, qtype, offset after the question) of a query."""
    labels, offset = [], 12
    while True:
        length = packet[offset]
        if length == 0:
            offset += 1
            break
        if length & 0xC0:
            raise ValueError("compressed names are not expected in questions")
        labels.append(packet[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    qtype = struct.unpack(">H", packet[offset : offset + 2])[0]
    return ".".join(labels).lower().rstrip("."), qtype, offset + 4


def answer(packet: bytes, address: str) -> bytes:
    """A response carrying one A record for the query's name."""
    _, _, end = question(packet)
    header = packet[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
    record = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(address)
    return header + packet[12:end] + record


def not_found(packet: bytes) -> bytes:
    _, _, end = question(packet)
    return packet[:2] + struct.pack(">HHHHH", 0x8183, 1, 0, 0, 0) + packet[12:end]


class Server:
    """One UDP responder bound to a network's gateway address."""

    def __init__(self, address: str, lookup: Lookup):
        self.lookup = lookup
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 53))
        threading.Thread(target=self._serve, daemon=True, name=f"dns-{address}").start()

    def _serve(self) -> None:
        while True:
            try:
                packet, client = self.sock.recvfrom(4096)
            except OSError:
                return  # closed
            threading.Thread(target=self._handle, args=(packet, client), daemon=True).start()

    def _handle(self, packet: bytes, client: tuple[str, int]) -> None:
        try:
            name, qtype, _ = question(packet)
        except (ValueError, IndexError, struct.error):
            return
        found = self.lookup(client[0], name) if qtype in (1, 28) else None
        if found and qtype == 1:
            reply: bytes | None = answer(packet, found)
        elif found:  # AAAA for a container name: no IPv6 address, but the name exists
            _, _, end = question(packet)
            reply = packet[:2] + struct.pack(">HHHHH", 0x8180, 1, 0, 0, 0) + packet[12:end]
        else:
            reply = self._forward(packet)
        if reply:
            try:
                self.sock.sendto(reply, client)
            except OSError:
                pass

    @staticmethod
    def _forward(packet: bytes) -> bytes | None:
        for upstream in host_nameservers():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(2)
                try:
                    s.sendto(packet, (upstream, 53))
                    return s.recv(4096)
                except OSError:
                    continue
        return not_found(packet)

    def close(self) -> None:
        self.sock.close()
