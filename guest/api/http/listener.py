"""The agent's socket: a unix socket (never TCP), root-owned, mode 0660 (and the SSH user's group, when asked).

A `_socket` one, which early.py answers pings on before the `socket` module is loaded; the Server takes it over.
"""

from __future__ import annotations

import _socket
import os

BACKLOG = 1024  # connections the kernel queues before they are accepted (capped by net.core.somaxconn)


def listen(path: str, mode: int = 0o660, group: int | None = None) -> _socket.socket:
    """A non-blocking socket listening on `path` (a stale one there is replaced)."""
    if os.path.exists(path):
        os.unlink(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    old = os.umask(0o777 & ~mode)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, mode)
    if group is not None:  # the SSH user's group, when provisioning logs in as a non-root user
        os.chown(path, -1, group)
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock
