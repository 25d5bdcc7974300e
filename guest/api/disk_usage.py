"""GET /system/df (`docker system df`): the space images, containers, volumes and the build cache take."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .. import times
from ..builds.cache import BuildCache
from ..engine import Engine
from ..errors import InvalidInput
from ..images.store import Image, ImageStore
from . import container_json, images
from .http.request import Request
from .http.responses import Response, json_response
from .http.router import Router

TYPES = ("container", "image", "volume", "build-cache")


def register(router: Router, engine: Engine) -> None:
    @router.route("GET", "/system/df")
    def disk_usage(req: Request) -> Response:
        wanted = req.args("type") or list(TYPES)  # API 1.42+: only the kinds asked for
        unknown = [t for t in wanted if t not in TYPES]
        if unknown:
            raise InvalidInput(f"unknown object type: {unknown[0][:100]}")
        answer: dict[str, Any] = {"LayersSize": 0, "Images": None, "Containers": None, "Volumes": None}
        answer["BuildCache"] = None
        if "image" in wanted:
            answer["LayersSize"] = engine.images.layers_size()
            answer["Images"] = image_rows(engine)
        if "container" in wanted:
            answer["Containers"] = [
                container_json.summary(c, container_json.sizes(engine.images, c)) for c in engine.containers.all()
            ]
        if "volume" in wanted:
            answer["Volumes"] = [volume_row(engine, v) for v in engine.volumes.all()]
        if "build-cache" in wanted:
            answer["BuildCache"] = build_cache_rows(engine)
        return json_response(answer)


def image_rows(engine: Engine) -> list[dict[str, Any]]:
    """The images `docker images` lists, with how many containers use each and the bytes of their layers that
    other images have too (SharedSize; a layer is kept once however many images have it)."""
    store = engine.images
    every = store.all()
    holders = Counter(d for image in every for d in set(image.diff_ids))
    rows = []
    for image in every:
        if store.is_intermediate(image):
            continue
        row = images.summary(image, len(engine.containers.image_users(image.id)))
        row["SharedSize"] = _shared(store, image, holders)
        rows.append(row)
    rows.sort(key=lambda r: r["Created"], reverse=True)
    return rows


def _shared(store: ImageStore, image: Image, holders: Counter[str]) -> int:
    return sum(store.layer_size(d) for d in set(image.diff_ids) if holders[d] > 1)


def volume_row(engine: Engine, volume: dict[str, Any]) -> dict[str, Any]:
    name = volume["Name"]
    usage = {"Size": engine.volumes.size(name), "RefCount": len(engine.containers.volume_users(name))}
    return {**volume, "UsageData": usage}


def build_cache_rows(engine: Engine) -> list[dict[str, Any]]:
    """The build steps the cache remembers: each the layer its step added to its parent's image; Shared when
    something besides the cache keeps that image (a tag, a container, a child that is kept), so pruning the cache
    would not free it."""
    store = engine.images
    cache = BuildCache(store)
    kept = cache.kept(engine.containers.image_users)
    entries = {key: image_id for key, image_id in cache.entries().items() if store.exists(image_id)}
    step_of = {image_id: key for key, image_id in entries.items()}
    rows = []
    for key, image_id in entries.items():
        image = store.get(image_id)
        parent = store.parents.get(image_id)
        parent_size = store.get(parent).size if parent and store.exists(parent) else 0
        history = image.config.get("history")
        last = history[-1] if isinstance(history, list) and history and isinstance(history[-1], dict) else {}
        rows.append(
            {
                "ID": key,
                **({"Parents": [step_of[parent]]} if parent in step_of else {}),
                "Type": "regular",
                "Description": str(last.get("created_by", "")),
                "InUse": False,
                "Shared": image_id in kept,
                "Size": max(image.size - parent_size, 0),
                "CreatedAt": times.utc(times.parse(image.created), precise=True),
            }
        )
    return rows
