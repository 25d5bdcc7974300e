"""Image archives: `docker load` (legacy and OCI layouts), `docker save` (legacy layout) and `docker import`."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .. import paths, times
from ..errors import InvalidInput
from ..files import writing
from . import tarsafe
from .reference import Reference, normalize
from .store import Image, ImageStore
from .tarstream import tar_paths


def load(store: ImageStore, stream: IO[bytes]) -> list[str]:
    """Load a `docker save` archive (legacy or OCI layout); returns the "Loaded image" lines."""
    with writing(store.tmp):
        work = Path(tempfile.mkdtemp(dir=store.tmp))
    try:
        with writing(work):
            tarsafe.extract(stream, work, owners=False)
        entries = _manifest(work)
        loaded = []
        for config_path, layer_paths, tags in entries:
            config_bytes = _read_member(work, config_path)
            try:
                diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
            except (ValueError, KeyError, TypeError):
                raise InvalidInput(f"{config_path} is not an image config") from None
            if len(diff_ids) != len(layer_paths):
                raise InvalidInput(
                    f"{config_path} names {len(diff_ids)} layers but the manifest has {len(layer_paths)}"
                )
            for diff_id, layer in zip(diff_ids, layer_paths):
                if not store.has_layer(diff_id):
                    with open(_member(work, layer), "rb") as f:
                        store.add_layer(f, expect=diff_id)
            image_id = store.add_image(config_bytes, tags)
            loaded += [f"Loaded image: {normalize(t)}" for t in tags] or [f"Loaded image ID: {image_id}"]
        return loaded
    finally:
        paths.discard(work)


def _manifest(work: Path) -> list[tuple[str, list[str], list[str]]]:
    """(config path, layer paths, tags) per image, from manifest.json or an OCI index.json; the tags checked."""
    if _has(work, "manifest.json"):
        try:
            manifest = json.loads(_read_member(work, "manifest.json"))
            entries = [(m["Config"], list(m.get("Layers") or []), list(m.get("RepoTags") or [])) for m in manifest]
        except (ValueError, KeyError, TypeError):
            raise InvalidInput("manifest.json is not a docker save manifest") from None
    elif _has(work, "index.json"):
        entries = _oci_entries(work)
    else:
        raise InvalidInput("not an image archive: it has neither manifest.json nor index.json")
    for _, _, tags in entries:
        for tag in tags:
            Reference.parse(tag)
    return entries


def _oci_entries(work: Path) -> list[tuple[str, list[str], list[str]]]:
    def blob(digest: str) -> str:
        return "blobs/" + digest.replace(":", "/")

    entries = []
    try:
        index = json.loads(_read_member(work, "index.json"))
        for desc in index.get("manifests", []):
            manifest = json.loads(_read_member(work, blob(desc["digest"])))
            if "manifests" in manifest:  # a nested index: take the linux/amd64 entry
                desc2 = next(
                    m for m in manifest["manifests"] if m.get("platform", {}).get("architecture") in ("amd64", None)
                )
                manifest = json.loads(_read_member(work, blob(desc2["digest"])))
            name = desc.get("annotations", {}).get("io.containerd.image.name") or desc.get("annotations", {}).get(
                "org.opencontainers.image.ref.name", ""
            )
            tags = [name] if name and (":" in name or "/" in name) else []
            entries.append(
                (blob(manifest["config"]["digest"]), [blob(layer["digest"]) for layer in manifest["layers"]], tags)
            )
    except (ValueError, KeyError, TypeError, StopIteration):
        raise InvalidInput("index.json is not a valid OCI image index") from None
    return entries


def _named(store: ImageStore, ref: str) -> list[tuple[Image, list[str]]]:
    """The images a save names by `ref` and the tags each is saved under, as dockerd's exporter reads names:
    `name:tag` that tag; a name without a tag every tag of that repository; an ID (full or a prefix) or a digest
    untagged."""
    last = ref.rsplit("/", 1)[-1]
    if "@" in ref:
        return [(store.resolve(ref), [])]
    if ":" in last and not ref.startswith("sha256:"):
        return [(store.resolve(ref), [normalize(ref)])]
    name = Reference.split(ref).name
    tagged = [(image, [t for t in image.repo_tags if Reference.split(t).name == name]) for image in store.all()]
    return [(image, tags) for image, tags in tagged if tags] or [(store.resolve(ref), [])]


def select(store: ImageStore, refs: list[str]) -> list[tuple[Image, list[str]]]:
    """The images `refs` name for a save, each once with every tag it was named by; NotFound for a name that
    names none."""
    images: dict[str, tuple[Image, list[str]]] = {}
    for ref in refs:
        for image, tags in _named(store, ref):
            known = images.setdefault(image.id, (image, []))[1]
            known += [t for t in tags if t not in known]
    return list(images.values())


def save(store: ImageStore, images: list[tuple[Image, list[str]]]) -> Iterator[bytes]:
    """A `docker save` archive (legacy layout, loadable by dockerd and this agent) of the select()ed images."""
    work = Path(tempfile.mkdtemp(dir=store.tmp))
    try:
        manifest = []
        for image, tags in images:
            (work / f"{image.id[7:]}.json").write_bytes((store.images_dir / f"{image.id[7:]}.json").read_bytes())
            layers = []
            for diff_id in image.diff_ids:
                folder = work / diff_id[7:]
                if not folder.exists():
                    folder.mkdir()
                    os.link(store.layer_tar(diff_id), folder / "layer.tar")
                layers.append(f"{diff_id[7:]}/layer.tar")
            manifest.append({"Config": f"{image.id[7:]}.json", "RepoTags": tags or None, "Layers": layers})
        (work / "manifest.json").write_text(json.dumps(manifest))
        yield from tar_paths([(work / name, name) for name in sorted(os.listdir(work))])
    finally:
        paths.discard(work)


def import_rootfs(store: ImageStore, stream: IO[bytes], tag: str | None, config: dict[str, Any], message: str) -> str:
    """`docker import`: one tar becomes a one-layer image; returns its ID."""
    diff_id = store.add_layer(stream)
    now = times.utc()
    image = {
        "architecture": "amd64",
        "os": "linux",
        "created": now,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": now, "created_by": "import", "comment": message or "Imported from -"}],
    }
    return store.add_image(json.dumps(image, separators=(",", ":")).encode(), [tag] if tag else [])


def _has(work: Path, name: str) -> bool:
    try:
        return paths.resolve(work, name).is_file()
    except (OSError, ValueError):
        return False


def _member(work: Path, name: str) -> Path:
    """The archive's file `name`, its symlinks followed inside the archive (never out of it)."""
    if not isinstance(name, str) or not _has(work, name):
        raise InvalidInput(f"the archive lacks {str(name)[:300]}")
    return paths.resolve(work, name)


def _read_member(work: Path, name: str) -> bytes:
    with open(_member(work, name), "rb") as f:
        return f.read(64 << 20)  # configs, manifests and indexes: never a memory's worth
