"""Pull: manifest lists and OCI indexes (linux/amd64 chosen, attestations skipped), Docker schema 2 and OCI
manifests, config and layers verified against their digests, layers already present never fetched again."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from typing import Any, ClassVar

from ..errors import InvalidInput, NotFound, Unsupported
from .reference import Reference
from .registry import MANIFEST_TYPES, Client, Progress
from .store import ImageStore
from .streams import DigestReader


def _platform_manifest(index: dict[str, Any]) -> dict[str, Any]:
    for entry in index.get("manifests", []):
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return dict(entry)
    raise NotFound("no matching manifest for linux/amd64 in the manifest list entries")


def pull(store: ImageStore, ref: Reference, auth: dict[str, str], insecure: set[str], progress: Progress) -> str:
    """Pull `ref` into the store; returns the image ID."""
    client = Client(ref, auth, insecure)
    progress({"status": f"Pulling from {ref.repository}", "id": ref.tag or ref.digest})
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

    reader = DigestReader(response, report)
    try:
        store.add_layer(
            io.BufferedReader(reader, 1 << 20), expect=diff_id, check=lambda: _check_digest(reader, layer["digest"])
        )
    finally:
        response.close()


def _check_digest(reader: DigestReader, expected: str) -> None:
    while reader.read(1 << 20):
        pass
    if "sha256:" + reader.digest.hexdigest() != expected:
        raise InvalidInput(f"layer blob does not match its digest {expected}")
