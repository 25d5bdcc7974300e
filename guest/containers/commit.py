"""`docker commit`: a container's changes (its overlay upper directory) as a new image over its own, with the
config dockerd gives it (daemon/commit.go): the request's config, the --change lines applied to it, then the
container's config merged in where the request left fields empty."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__, times
from ..builds import imageconfig
from ..errors import Conflict, EngineError, InvalidInput
from ..images.reference import Reference
from ..images.streams import ChunkReader
from ..images.tarstream import layer_from_upper
from . import changes
from .record import Container
from .supervision import Containers

log = logging.getLogger("guest.containers")

OMITTED = {
    "ExposedPorts",
    "Healthcheck",
    "StopSignal",
    "StopTimeout",
    "Shell",
    "ArgsEscaped",
    "MacAddress",
}  # when null
EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"  # a tar with no entries


@dataclass
class Options:
    """The query and body of POST /commit."""

    repo: str = ""
    tag: str = ""
    author: str = ""
    comment: str = ""
    pause: bool = True
    changes: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None  # the body's Config; None: the container's


def commit(containers: Containers, c: Container, options: Options) -> str:
    """Commit `c` as a new image; its ID. Tags it repo:tag when a repo is given; emits the events dockerd does."""
    name = ""
    if options.repo:
        ref = Reference.parse(options.repo, options.tag)
        if ref.digest:
            raise InvalidInput("cannot import digest reference")
        name = ref.local
    if c.state.get("Dead"):
        raise Conflict(f"You cannot commit container {c.id} which is Dead")
    images = containers.images
    parent = images.get(c.data["Image"])
    container_config = c.data["Config"]
    base = options.config if options.config is not None else container_config
    config = merge(imageconfig.from_changes(options.changes, base), container_config)
    diff_id = _layer(containers, c, parent.layers, options.pause)
    created = times.utc(precise=True)
    rootfs = json.loads(json.dumps(parent.config.get("rootfs") or {"type": "layers", "diff_ids": []}))
    entry: dict[str, Any] = {"created": created, "created_by": " ".join(container_config.get("Cmd") or [])}
    entry.update({k: v for k, v in (("author", options.author), ("comment", options.comment)) if v})
    if diff_id == EMPTY_LAYER:
        entry["empty_layer"] = True
    else:
        rootfs.setdefault("diff_ids", []).append(diff_id)
    image: dict[str, Any] = {
        "architecture": parent.config.get("architecture", "amd64"),
        **{k: parent.config[k] for k in ("variant", "os.version", "os.features") if k in parent.config},
        "os": parent.config.get("os", "linux"),
        **({"author": options.author} if options.author else {}),
        "config": config,
        "container": c.id,
        "container_config": container_config,
        "created": created,
        "docker_version": __version__,
        "history": [*(parent.config.get("history") or []), entry],
        "rootfs": rootfs,
    }
    try:
        image_id = images.add_image(json.dumps(image, separators=(",", ":")).encode(), [])
    finally:
        if diff_id == EMPTY_LAYER:
            images.discard_layer(diff_id)
    images.set_parent(image_id, parent.id)
    if name:
        images.tag(image_id, name)
        containers.events.emit("image", "tag", image_id, {"name": name})
    containers.emit(c, "commit", {"comment": options.comment, "imageID": image_id, "imageRef": name})
    return image_id


def _layer(containers: Containers, c: Container, layers: list[Path], pause: bool) -> str:
    """The diff ID of the layer the container's upper directory makes, read while it is paused when `pause` (and
    running): the runtime's mount points the image does not have are left out, as dockerd's init layer keeps them."""

    def skip(parts: list[str]) -> bool:
        path = "/" + "/".join(parts)
        return path in changes.INIT_PATHS and not changes.lower_has(layers, path)

    freeze = pause and c.running and not c.state.get("Paused")
    if freeze:
        containers.pause(c, True)
    try:
        stream = ChunkReader(layer_from_upper(c.path / "upper", skip))
        return containers.images.add_layer(io.BufferedReader(stream))
    finally:
        if freeze and c.state.get("Paused"):
            try:
                containers.pause(c, False)
            except EngineError as e:
                log.warning("container %s stays paused after its commit: %s", c.id[:12], e)


def merge(config: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """The committed image's config: `config`'s fields, the container's where `config` leaves them empty (moby's
    daemon/commit.go merge)."""
    merged = {"Cmd": None, "Entrypoint": None, **config}
    merged["User"] = config.get("User") or container.get("User") or ""
    merged["ExposedPorts"] = {**(container.get("ExposedPorts") or {}), **(config.get("ExposedPorts") or {})} or None
    own = config.get("Env") or []
    keys = {e.split("=", 1)[0] for e in own}
    merged["Env"] = own + [e for e in container.get("Env") or [] if e.split("=", 1)[0] not in keys]
    merged["Labels"] = {**(container.get("Labels") or {}), **(config.get("Labels") or {})}
    if not config.get("Entrypoint"):
        if not config.get("Cmd"):
            merged["Cmd"] = container.get("Cmd")
        if config.get("Entrypoint") is None:
            merged["Entrypoint"] = container.get("Entrypoint")
    merged["Healthcheck"] = _healthcheck(config.get("Healthcheck"), container.get("Healthcheck"))
    merged["WorkingDir"] = config.get("WorkingDir") or container.get("WorkingDir") or ""
    merged["Volumes"] = {**(config.get("Volumes") or {}), **(container.get("Volumes") or {})} or None
    merged["StopSignal"] = config.get("StopSignal") or container.get("StopSignal")
    return {k: v for k, v in merged.items() if v is not None or k not in OMITTED}


def _healthcheck(own: dict[str, Any] | None, container: dict[str, Any] | None) -> dict[str, Any] | None:
    if not container:
        return own
    if not own:
        return container
    return {**container, **{k: v for k, v in own.items() if v}}
