"""Push: blobs checked with HEAD first (or mounted from another repository of the same registry), uploaded in
chunks, the manifest PUT last."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Iterator
from typing import Callable

from .reference import Reference
from .registry import DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, Client, Progress
from .store import ImageStore


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
    """One blob, streamed in a single chunked PATCH (as dockerd uploads): memory holds a chunk at a time."""
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

    def sent() -> Iterator[bytes]:
        total = 0
        for chunk in chunks:
            if chunk:
                yield chunk
                total += len(chunk)
                report(total)

    response = client.request(
        "PATCH",
        _absolute(client, location),
        body=sent(),
        ok=(202,),
        scope="push",
        headers={"Content-Type": "application/octet-stream"},
    )
    location = response.headers["Location"]
    response.close()
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
