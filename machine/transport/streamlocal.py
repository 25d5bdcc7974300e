"""`direct-streamlocal@openssh.com` channels for paramiko: connect to a unix socket on the SSH server.

paramiko's Transport.open_channel only knows the fields of direct-tcpip, so this module sends the
channel-open message itself (RFC 4254 section 5.1, plus OpenSSH's PROTOCOL section 2.4:
string socket path, string reserved, uint32 reserved) using the same bookkeeping as open_channel.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from paramiko import Channel, Message, SSHException, Transport
from paramiko.common import cMSG_CHANNEL_OPEN

KIND = "direct-streamlocal@openssh.com"


class Refused(SSHException):
    """The server refused the channel: nothing listens on the socket, or it does not forward to sockets."""


def open_streamlocal(transport: Transport, socket_path: str, timeout: float = 10.0) -> Channel:
    """Open a channel to the unix socket `socket_path` on the server; raise Refused if refused (SSHException for
    a connection that fails or a server that does not answer within `timeout`)."""
    chan: Channel = _open(transport, socket_path, timeout)
    return chan


def _open(transport: Any, socket_path: str, timeout: float) -> Any:
    """open_streamlocal on paramiko's private channel bookkeeping (hence untyped), as open_channel does it."""
    if not transport.active:
        raise SSHException("SSH session not active")
    with transport.lock:
        window_size = transport._sanitize_window_size(None)
        max_packet_size = transport._sanitize_packet_size(None)
        chanid = transport._next_channel()
        m = Message()
        m.add_byte(cMSG_CHANNEL_OPEN)
        m.add_string(KIND)
        m.add_int(chanid)
        m.add_int(window_size)
        m.add_int(max_packet_size)
        m.add_string(socket_path)
        m.add_string("")
        m.add_int(0)
        chan: Any = Channel(chanid)
        transport._channels.put(chanid, chan)
        transport.channel_events[chanid] = event = threading.Event()
        transport.channels_seen[chanid] = True
        chan._set_transport(transport)
        chan._set_window(window_size, max_packet_size)
    transport._send_user_message(m)
    deadline = time.monotonic() + timeout
    while not event.wait(0.05):
        if not transport.active:
            raise transport.get_exception() or SSHException("SSH session closed while opening a channel")
        if time.monotonic() > deadline:
            raise SSHException(f"timed out opening a channel to {socket_path}")
    chan = transport._channels.get(chanid)
    if chan is None:
        reason = transport.get_exception() or "refused"
        raise Refused(
            f"the SSH server could not connect to {socket_path} ({reason}): is the agent "
            f"running, and does sshd allow AllowStreamLocalForwarding?"
        )
    return chan
