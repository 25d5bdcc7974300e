"""Release a DHCP lease at the host's dnsmasq, as dnsmasq's own `dhcp_release` tool does.

dnsmasq keeps its leases in memory and writes them back to libvirt's status file whenever it is
signalled, so editing that file does not forget a lease: only a DHCPRELEASE from the lease's
client does. Sending it needs root (the socket is bound to the network's bridge).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

_COOKIE = b"\x63\x82\x53\x63"
_BOOTREQUEST, _ETHERNET, _DHCPRELEASE = 1, 1, 7
_MESSAGE_TYPE, _SERVER_ID, _CLIENT_ID, _END = 53, 54, 61, 255


def packet(address: str, mac: str, server: str, client_id: str | None = None) -> bytes:
    """A DHCPRELEASE of `address` held by `mac` (client id as libvirt prints it: hex bytes joined by ':')."""
    chaddr = bytes.fromhex(mac.replace(":", ""))
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        _BOOTREQUEST,
        _ETHERNET,
        len(chaddr),
        0,
        int.from_bytes(os.urandom(4), "big"),
        0,
        0,
        ipaddress.IPv4Address(address).packed,
        bytes(4),
        bytes(4),
        bytes(4),
        chaddr,
        b"",
        b"",
    )
    options = bytes([_MESSAGE_TYPE, 1, _DHCPRELEASE, _SERVER_ID, 4]) + ipaddress.IPv4Address(server).packed
    if client_id:
        value = bytes.fromhex(client_id.replace(":", ""))
        options += bytes([_CLIENT_ID, len(value)]) + value
    return header + _COOKIE + options + bytes([_END])


def release(bridge: str, server: str, address: str, mac: str, client_id: str | None = None) -> None:
    """Send the release to the DHCP server at `server` as if it came in on `bridge` (raises OSError)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, bridge.encode())
        sock.sendto(packet(address, mac, server, client_id), (server, 67))
