"""A registry client (distribution spec v2) for pull and push, on the standard library.

Pull: manifest lists and OCI indexes (linux/amd64 chosen, attestations skipped), Docker schema 2 and
OCI manifests, config and layers verified against their digests, layers already present never
fetched again. Push: blobs checked with HEAD first, uploaded in chunks, manifest PUT last. Auth:
anonymous, basic, and bearer tokens from the `WWW-Authenticate` challenge. Plain HTTP only for
loopback registries and those the agent was told are insecure.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from .errors import EngineError, Forbidden, InvalidInput, NotFound, Unauthorized, Unsupported, UpstreamFailure
from .imagestore import ImageStore

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


@dataclass
class Reference:
    registry: str  # host[:port] as the user wrote it ("docker.io" for Docker Hub)
    repository: str  # e.g. library/busybox
    tag: str
    digest: str

    @classmethod
    def parse(cls, ref: str, tag: str = "") -> Reference:
        name, _, digest = ref.partition("@")
        first, sep, rest = name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, rest
        else:
            registry, path = "docker.io", name
        last = path.rsplit("/", 1)
        if ":" in last[-1]:
            path, _, found_tag = path.rpartition(":")
            tag = tag or found_tag
        if registry == "docker.io" and "/" not in path:
            path = f"library/{path}"
        if not path or path != path.lower():
            raise InvalidInput(f"invalid reference format: {ref!r} (repository names must be lowercase)")
        return cls(registry, path, tag or ("" if digest else "latest"), digest)

    @property
    def host(self) -> str:
        return "registry-1.docker.io" if self.registry == "docker.io" else self.registry

    @property
    def name(self) -> str:
        """The local name: `busybox`, `localhost:5000/x`."""
        if self.registry == "docker.io":
            return self.repository[len("library/") :] if self.repository.startswith("library/") else self.repository
        return f"{self.registry}/{self.repository}"


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
    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse):
        self.conn, self.resp = conn, resp
        self.status = resp.status
        self.headers = resp.headers

    def read(self, n: int = -1) -> bytes:
        return self.resp.read(n) if n >= 0 else self.resp.read()

    def close(self) -> None:
        self.resp.close()
        self.conn.close()


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
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        scope: str = "pull",
    ) -> _Response:
        """A request with auth: answers one auth challenge, follows redirects (to blob storage)."""
        challenged = False
        for _ in range(5):
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


class _DigestReader(io.RawIOBase):
    """Reads a response while hashing what passes through (compressed blob digest)."""

    def __init__(self, source: _Response, progress: Callable[[int], None]):
        self.source, self.progress = source, progress
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self.source.read(len(buf))
        self.digest.update(data)
        self.count += len(data)
        self.progress(self.count)
        buf[: len(data)] = data
        return len(data)


def _platform_manifest(index: dict[str, Any]) -> dict[str, Any]:
    for entry in index.get("manifests", []):
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return dict(entry)
    raise NotFound("no matching manifest for linux/amd64 in the manifest list entries")


def pull(store: ImageStore, ref: Reference, auth: dict[str, str], insecure: set[str], progress: Progress) -> str:
    """Pull `ref` into the store; returns the image ID."""
    client = Client(ref, auth, insecure)
    progress(
        {
            "status": f"Pulling from {ref.repository}",
            "id": ref.tag or ref.digest,
        }
    )
    response = client.request(
        "GET", f"/v2/{ref.repository}/manifests/{ref.digest or ref.tag}", headers={"Accept": MANIFEST_TYPES}
    )
    body = response.read()
    response.close()
    manifest_digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if ref.digest and manifest_digest != ref.digest:
        raise InvalidInput(f"manifest digest mismatch: asked for {ref.digest}, got {manifest_digest}")
    manifest = json.loads(body)
    if "manifests" in manifest:
        entry = _platform_manifest(manifest)
        response = client.request(
            "GET", f"/v2/{ref.repository}/manifests/{entry['digest']}", headers={"Accept": MANIFEST_TYPES}
        )
        inner = response.read()
        response.close()
        if "sha256:" + hashlib.sha256(inner).hexdigest() != entry["digest"]:
            raise InvalidInput("platform manifest does not match its digest")
        manifest = json.loads(inner)
    if manifest.get("schemaVersion") != 2 or "config" not in manifest:
        raise Unsupported(f"unsupported manifest (schema {manifest.get('schemaVersion')}): only v2 manifests")
    config_bytes = _blob(client, ref, manifest["config"]["digest"])
    diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
    if len(diff_ids) != len(manifest["layers"]):
        raise InvalidInput("the image config and manifest disagree on the number of layers")
    for layer, diff_id in zip(manifest["layers"], diff_ids):
        short = layer["digest"][7:19]
        if store.has_layer(diff_id):
            progress({"status": "Already exists", "progressDetail": {}, "id": short})
            continue
        progress({"status": "Pulling fs layer", "progressDetail": {}, "id": short})
        with _LayerLock.of(diff_id):
            if not store.has_layer(diff_id):
                _pull_layer(store, client, ref, layer, diff_id, progress)
        progress({"status": "Pull complete", "progressDetail": {}, "id": short})
    name = ref.name
    tags = [f"{name}:{ref.tag}"] if ref.tag else []
    image_id = store.add_image(config_bytes, tags)
    store.add_digest(f"{name}@{manifest_digest}", image_id)
    progress({"status": f"Digest: {manifest_digest}"})
    progress({"status": f"Status: Downloaded newer image for {name}:{ref.tag or ref.digest}"})
    return image_id


class _LayerLock:
    """One download per layer: concurrent pulls of the same layer wait for the first."""

    _locks: ClassVar[dict[str, threading.Lock]] = {}
    _guard = threading.Lock()

    @classmethod
    def of(cls, key: str) -> threading.Lock:
        with cls._guard:
            return cls._locks.setdefault(key, threading.Lock())


def _blob(client: Client, ref: Reference, digest: str) -> bytes:
    response = client.request("GET", f"/v2/{ref.repository}/blobs/{digest}")
    data = response.read()
    response.close()
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise InvalidInput(f"blob {digest} does not match its digest")
    return data


def _pull_layer(
    store: ImageStore, client: Client, ref: Reference, layer: dict[str, Any], diff_id: str, progress: Progress
) -> None:
    short, total = layer["digest"][7:19], int(layer.get("size") or 0)
    response = client.request("GET", f"/v2/{ref.repository}/blobs/{layer['digest']}")
    last = [0]

    def report(count: int) -> None:
        if count - last[0] >= 1 << 20 or count == total:
            last[0] = count
            progress({"status": "Downloading", "progressDetail": {"current": count, "total": total}, "id": short})

    reader = _DigestReader(response, report)
    try:
        store.add_layer(
            io.BufferedReader(reader, 1 << 20), expect=diff_id, check=lambda: _check_digest(reader, layer["digest"])
        )
    finally:
        response.close()


def _check_digest(reader: _DigestReader, expected: str) -> None:
    while reader.read(1 << 20):
        pass
    if "sha256:" + reader.digest.hexdigest() != expected:
        raise InvalidInput(f"layer blob does not match its digest {expected}")


def push(
    store: ImageStore, local: str, ref: Reference, auth: dict[str, str], insecure: set[str], progress: Progress
) -> str:
    """Push local image `local` as `ref`; returns the manifest digest."""
    image = store.resolve(local)
    client = Client(ref, auth, insecure)
    progress({"status": f"The push refers to repository [{ref.name}]"})
    layers = []
    for diff_id in image.diff_ids:
        short = diff_id[7:19]
        progress({"status": "Preparing", "progressDetail": {}, "id": short})
        digest, size = store.compressed_layer_digest(diff_id)
        exists = client.request("HEAD", f"/v2/{ref.repository}/blobs/{digest}", ok=(200, 404), scope="push")
        exists.close()
        elsewhere = next(
            (
                r
                for r in store.layer_pushed_to(diff_id)
                if r.startswith(f"{ref.registry}/") and r != f"{ref.registry}/{ref.repository}"
            ),
            None,
        )
        if exists.status == 200:
            progress({"status": "Layer already exists", "progressDetail": {}, "id": short})
        elif elsewhere and _mount(client, ref, digest, elsewhere.split("/", 1)[1]):
            progress({"status": f"Mounted from {elsewhere.split('/', 1)[1]}", "progressDetail": {}, "id": short})
        else:
            _upload(
                client,
                ref,
                store.compressed_layer(diff_id),
                digest,
                _pushing(progress, short, size),
            )
            progress({"status": "Pushed", "progressDetail": {}, "id": short})
        store.record_push(diff_id, f"{ref.registry}/{ref.repository}")
        layers.append({"mediaType": DOCKER_LAYER, "size": size, "digest": digest})
    config_bytes = store.config_bytes(image.id)
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    head = client.request("HEAD", f"/v2/{ref.repository}/blobs/{config_digest}", ok=(200, 404), scope="push")
    head.close()
    if head.status != 200:
        _upload(client, ref, iter([config_bytes]), config_digest, lambda n: None)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config_bytes), "digest": config_digest},
            "layers": layers,
        },
        indent=3,
    ).encode()
    response = client.request(
        "PUT",
        f"/v2/{ref.repository}/manifests/{ref.tag}",
        body=manifest,
        headers={"Content-Type": DOCKER_MANIFEST},
        ok=(201, 200),
        scope="push",
    )
    response.close()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    store.add_digest(f"{ref.name}@{digest}", image.id)
    progress({"status": f"{ref.tag}: digest: {digest} size: {len(manifest)}"})
    progress({"progressDetail": {}, "aux": {"Tag": ref.tag, "Digest": digest, "Size": len(manifest)}})
    return digest


def _pushing(progress: Progress, short: str, size: int) -> Callable[[int], None]:
    """Reports upload progress of one layer."""
    return lambda n: progress({"status": "Pushing", "progressDetail": {"current": n, "total": size}, "id": short})


def _mount(client: Client, ref: Reference, digest: str, source: str) -> bool:
    """Cross-repository mount: the registry links a blob it already has in `source` (no upload)."""
    response = client.request(
        "POST",
        f"/v2/{ref.repository}/blobs/uploads/?mount={urllib.parse.quote(digest)}&from={urllib.parse.quote(source)}",
        body=b"",
        ok=(201, 202),
        scope="push",
        headers={"Content-Length": "0"},
    )
    response.close()
    return response.status == 201


def _upload(
    client: Client, ref: Reference, chunks: Iterator[bytes], digest: str, report: Callable[[int], None]
) -> None:
    start = client.request(
        "POST",
        f"/v2/{ref.repository}/blobs/uploads/",
        ok=(202,),
        scope="push",
        headers={"Content-Length": "0"},
        body=b"",
    )
    location = start.headers["Location"]
    start.close()
    sent = 0
    for chunk in chunks:
        if not chunk:
            continue
        response = client.request(
            "PATCH",
            _absolute(client, location),
            body=chunk,
            ok=(202,),
            scope="push",
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{sent}-{sent + len(chunk) - 1}",
                "Content-Length": str(len(chunk)),
            },
        )
        location = response.headers["Location"]
        response.close()
        sent += len(chunk)
        report(sent)
    separator = "&" if "?" in location else "?"
    done = client.request(
        "PUT",
        _absolute(client, f"{location}{separator}digest={urllib.parse.quote(digest)}"),
        body=b"",
        ok=(201,),
        scope="push",
        headers={"Content-Length": "0"},
    )
    done.close()


def _absolute(client: Client, location: str) -> str:
    if location.startswith("http"):
        return location
    return f"{'http' if client.plain_http else 'https'}://{client.ref.host}{location}"


def login(server: str, auth: dict[str, str], insecure: set[str]) -> None:
    """Check credentials against a registry (`docker login`)."""
    host = server.replace("https://", "").replace("http://", "").rstrip("/").split("/")[0] or "docker.io"
    if host in ("index.docker.io", "registry-1.docker.io"):
        host = "docker.io"
    client = Client(Reference(host, "library/x", "latest", ""), auth, insecure)
    response = client.request("GET", "/v2/", ok=(200,))
    response.close()
