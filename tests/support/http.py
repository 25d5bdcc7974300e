"""Raw HTTP to an agent's unix socket (what a hostile or careless client can send that the docker CLI never would),
and a page of a published port on this computer's 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any


class UnixConnection(http.client.HTTPConnection):
    """http.client over a unix socket."""

    def __init__(self, path: Path, timeout: float = 30):
        super().__init__("agent", timeout=timeout)
        self.path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Answer:
    """A response read whole: status, headers and body (as JSON when it is JSON)."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def message(self) -> str:
        """The error message of a JSON error body, else the body as text."""
        try:
            return str(json.loads(self.body)["message"])
        except (ValueError, KeyError, TypeError):
            return self.body.decode(errors="replace")

    def __repr__(self) -> str:
        return f"<{self.status} {self.body[:300]!r}>"


def call(
    sock: Path,
    method: str,
    path: str,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
    limit: int = 1 << 20,
) -> Answer:
    """One request (`body` sent as JSON, or `raw` bytes as they are); reads at most `limit` bytes of the answer."""
    conn = UnixConnection(sock, timeout)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        sent = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read(limit))
    finally:
        conn.close()


def page(port: int, path: str = "/", within: float = 10, every: float = 0.1) -> bytes:
    """The page at http://127.0.0.1:PORT/PATH once it answers (a published port may take a moment: through a
    tunnel, a proxy or a guest still starting its server); the last error after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            return bytes(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(every)
