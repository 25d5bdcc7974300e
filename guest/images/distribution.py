"""What a registry holds under a name, without pulling it (GET /distribution/{name}/json): the manifest's
descriptor and the platforms it is for, as dockerd's distribution router reads them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..errors import UpstreamFailure
from .reference import Reference
from .registry import MANIFEST_TYPES, Client

PLATFORM_FIELDS = ("architecture", "os", "os.version", "os.features", "variant")


def inspect(ref: Reference, auth: dict[str, str], insecure: set[str]) -> dict[str, Any]:
    """{"Descriptor": {mediaType, digest, size}, "Platforms": [...]} of `ref` (its tag, or its digest): the
    platforms of an index's entries, or the one of a single manifest's image config."""
    client = Client(ref, auth, insecure)
    response = client.request(
        "GET", f"/v2/{ref.repository}/manifests/{ref.digest or ref.tag}", headers={"Accept": MANIFEST_TYPES}
    )
    try:
        payload = response.read()
        content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
        digest = ref.digest or response.headers.get("Docker-Content-Digest") or ""
    finally:
        response.close()
    try:
        manifest = json.loads(payload)
    except ValueError:
        raise UpstreamFailure(f"registry {ref.registry} answered a manifest that is not JSON") from None
    if not isinstance(manifest, dict):
        raise UpstreamFailure(f"registry {ref.registry} answered a manifest that is not a JSON object")
    descriptor = {
        "mediaType": manifest.get("mediaType") or content_type,
        "digest": digest or "sha256:" + hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
    }
    return {"Descriptor": descriptor, "Platforms": _platforms(client, ref, manifest) or None}


def _platforms(client: Client, ref: Reference, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(manifest.get("manifests"), list):
        entries = [e.get("platform") for e in manifest["manifests"] if isinstance(e, dict)]
        return [_platform(p) for p in entries if isinstance(p, dict)]
    config = manifest.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
        return []
    try:
        response = client.request("GET", f"/v2/{ref.repository}/blobs/{config['digest']}")
        try:
            image = json.loads(response.read())
        finally:
            response.close()
    except (ValueError, UpstreamFailure):
        return []  # as dockerd: a config that cannot be read leaves the platforms out
    platform = _platform(image) if isinstance(image, dict) else {}
    return [platform] if platform.get("os") or platform.get("architecture") else []


def _platform(source: dict[str, Any]) -> dict[str, Any]:
    """An OCI platform (architecture and os always, the others when set)."""
    found = {k: source[k] for k in PLATFORM_FIELDS if source.get(k)}
    return {"architecture": found.pop("architecture", ""), "os": found.pop("os", ""), **found}
