"""The registry client (distribution spec v2) that pull, push and login use, on the standard library.

Auth: anonymous, basic, and bearer tokens from the `WWW-Authenticate` challenge. Plain HTTP only for loopback
registries and those the agent was told are insecure. Registry errors become the engine's errors.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any, Callable

from ..errors import EngineError, Forbidden, InvalidInput, NotFound, Unauthorized, UpstreamFailure
from .reference import DOCKER_HUB, HUB_ALIASES, Reference

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

Progress = Callable[[dict[str, Any]], None]


def decode_auth(header: str | None) -> dict[str, str]:
    """The X-Registry-Auth header: base64url JSON with username/password (or identitytoken)."""
    if not header:
        return {}
    try:
        padded = header + "=" * (-len(header) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return data if isinstance(data, dict) else {}
    except (ValueError, TypeError):
        raise InvalidInput("invalid X-Registry-Auth header: expected base64url-encoded JSON") from None


class _Response:
    """A registry's answer, with the connection it came on (closed together)."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse):
        self.conn, self.resp = conn, resp
        self.status = resp.status
        self.headers = resp.headers

    def read(self, n: int = -1) -> bytes:
        return self.resp.read(n) if n >= 0 else self.resp.read()

    def close(self) -> None:
        self.resp.close()
        self.conn.close()


_HOST = re.compile(r"([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")


class Client:
    """One registry host: connections, auth challenges and tokens."""

    def __init__(self, ref: Reference, auth: dict[str, str], insecure: set[str]):
        self.ref = ref
        self.auth = auth
        host = ref.host.split(":")[0]
        self.plain_http = ref.host in insecure or host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")
        self._token: str | None = None
        self._lock = threading.Lock()

    def _connect(self) -> http.client.HTTPConnection:
        if self.plain_http:
            return http.client.HTTPConnection(self.ref.host, timeout=60)
        return http.client.HTTPSConnection(self.ref.host, timeout=60, context=ssl.create_default_context())

    def request(
        self,
        method: str,
        url: str,
        body: bytes | Iterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        scope: str = "pull",
    ) -> _Response:
        """A request with auth: answers one auth challenge, follows redirects (to blob storage). A body of chunks
        streams with chunked encoding, once."""
        challenged = False
        for attempt in range(5):
            if attempt and not isinstance(body, (bytes, type(None))):
                raise UpstreamFailure(f"registry {self.ref.registry} asked to send a streamed upload again")
            all_headers = dict(headers or {})
            if self._token:
                all_headers["Authorization"] = self._token
            response = self._send(method, url, body, all_headers)
            if response.status == 401 and not challenged:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                self._authorize(challenge, scope)
                challenged = True
                continue
            if response.status in (301, 302, 303, 307, 308):
                url = response.headers["Location"]
                response.close()
                continue
            if response.status not in ok:
                text = response.read().decode(errors="replace")
                response.close()
                raise _registry_error(response.status, text, self.ref)
            return response
        raise UpstreamFailure(f"registry {self.ref.registry}: too many redirects")

    def _send(self, method: str, url: str, body: Any, headers: dict[str, str]) -> _Response:
        if url.startswith("http"):
            parts = urllib.parse.urlsplit(url)
            if parts.netloc != self.ref.host:
                conn: http.client.HTTPConnection = (
                    http.client.HTTPSConnection(parts.netloc, timeout=60)
                    if parts.scheme == "https"
                    else http.client.HTTPConnection(parts.netloc, timeout=60)
                )
                headers.pop("Authorization", None)  # never leak registry credentials to blob storage
            else:
                conn = self._connect()
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        else:
            conn, target = self._connect(), url
        try:
            conn.request(method, target, body=body, headers=headers)
            return _Response(conn, conn.getresponse())
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise UpstreamFailure(f"cannot reach registry {self.ref.registry}: {e}") from None

    def _authorize(self, challenge: str, scope: str) -> None:
        scheme, _, params = challenge.partition(" ")
        fields = dict(_challenge_fields(params))
        user, password = self.auth.get("username", ""), self.auth.get("password", "")
        if scheme.lower() == "basic":
            if not user:
                raise Unauthorized(f"unauthorized: {self.ref.registry} needs a login: docker login {self.ref.registry}")
            self._token = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            return
        if scheme.lower() != "bearer" or "realm" not in fields:
            raise Unauthorized(f"unsupported authentication challenge from {self.ref.registry}: {challenge!r}")
        query = {
            "service": fields.get("service", ""),
            "scope": f"repository:{self.ref.repository}:{'pull,push' if scope == 'push' else 'pull'}",
        }
        realm = urllib.parse.urlsplit(fields["realm"])
        conn = (
            http.client.HTTPSConnection(realm.netloc, timeout=30)
            if realm.scheme == "https"
            else http.client.HTTPConnection(realm.netloc, timeout=30)
        )
        headers = {}
        if user:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        try:
            conn.request("GET", f"{realm.path}?{urllib.parse.urlencode(query)}", headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise UpstreamFailure(f"cannot reach the token service {realm.netloc}: {e}") from None
        finally:
            conn.close()
        if resp.status != 200:
            raise Unauthorized(
                f"unauthorized: the token service of {self.ref.registry} refused: "
                f"{data.decode(errors='replace')[:200]}",
            )
        token = json.loads(data).get("token") or json.loads(data).get("access_token")
        self._token = f"Bearer {token}"


def _challenge_fields(params: str) -> Iterator[tuple[str, str]]:
    for part in params.split(","):
        key, _, value = part.strip().partition("=")
        if key:
            yield key.strip(), value.strip().strip('"')


def _registry_error(status: int, text: str, ref: Reference) -> EngineError:
    try:
        errors = json.loads(text).get("errors") or []
        message = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}" for e in errors) or text
    except (ValueError, AttributeError):
        message = text[:300]
    if status == 404:
        return NotFound(f"manifest for {ref.name}:{ref.tag or ref.digest} not found: {message}")
    if status in (401, 403):
        denied = Unauthorized if status == 401 else Forbidden
        return denied(f"unauthorized or denied by {ref.registry}: {message}")
    return UpstreamFailure(f"registry {ref.registry} answered {status}: {message}")


def login(server: str, auth: dict[str, str], insecure: set[str]) -> None:
    """Check credentials against a registry (`docker login`)."""
    host = server.replace("https://", "").replace("http://", "").rstrip("/").split("/")[0] or DOCKER_HUB
    if not _HOST.fullmatch(host):
        raise InvalidInput(f"invalid registry address {server[:100]!r}: expected HOST[:PORT]")
    hub = host in (*HUB_ALIASES, "registry-1.docker.io")
    client = Client(Reference(DOCKER_HUB if hub else host, "library/x", "latest", ""), auth, insecure)
    response = client.request("GET", "/v2/", ok=(200,))
    response.close()
