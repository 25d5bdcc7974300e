"""Content-addressed image store: image configs by digest, unpacked layers shared between images, tags.

Layout under the root:
  images/<hex>.json       an image's config, byte for byte (its sha256 is the image ID)
  layers/<hex>/diff/      a layer unpacked in overlayfs format (<hex> = the layer's diff ID)
  layers/<hex>/layer.tar  the layer's uncompressed tar, kept so `save` and `push` give the same digests
  repositories.json       tags: {"name:tag": "sha256:<id>"} and digests {"name@sha256:..": id}
Everything is written to a temp name and renamed into place, so an interrupted load leaves no half image.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

from .. import paths, times
from ..errors import Conflict, InvalidInput, NoSpace, NotFound, SystemFailure
from ..files import write_atomic, write_json, writing
from . import overlay, tarsafe
from .reference import Reference, normalize
from .streams import HashingReader, gzip_chunks

log = logging.getLogger("guest.images")


@dataclass
class Image:
    """An image as the store knows it: its config, names, unpacked layers and size."""

    id: str
    config: dict[str, Any]
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    layers: list[Path] = field(default_factory=list)  # unpacked diff dirs, bottom first
    size: int = 0

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids", []))

    @property
    def created(self) -> str:
        return self.config.get("created") or "1970-01-01T00:00:00Z"


log = logging.getLogger("guest.images")

_HEX = re.compile(r"[0-9a-f]{64}")


def digest_hex(digest: str, prefix: str = "") -> str:
    """The 64 hex digits of `sha256:HEX` (`prefix` required when given, else optional): they name files, so
    anything else is refused (InvalidInput) before a path is made of it."""
    hexpart = digest[7:] if isinstance(digest, str) and digest.startswith("sha256:") else digest
    if not isinstance(hexpart, str) or not _HEX.fullmatch(hexpart) or (prefix and hexpart == digest):
        raise InvalidInput(f"invalid digest {str(digest)[:100]!r}: expected sha256: and 64 hex digits")
    return hexpart


def _read_map(path: Path) -> dict[str, str]:
    """A JSON object of strings kept in `path` ({} when there is none); other entries are logged and left out."""
    try:
        found = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(found, dict):
        log.warning("ignoring %s: not a JSON object", path)
        return {}
    kept = {k: v for k, v in found.items() if isinstance(v, str)}
    if len(kept) != len(found):
        log.warning("ignoring %d entries of %s that are not strings", len(found) - len(kept), path)
    return kept


class ImageStore:
    """Images and their layers under `images/`, with tags, digests and build-step parents."""

    def __init__(self, root: Path):
        self.root = root
        self.images_dir = root / "images"
        self.layers_dir = root / "layers"
        self.tmp = root / "tmp"
        for d in (self.images_dir, self.layers_dir, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._repos_path = root / "repositories.json"
        self._parents_path = root / "parents.json"
        self.parents = _read_map(self._parents_path)
        self.repos = _read_map(self._repos_path)

    def sweep(self) -> None:
        """At start-up: the leftovers of loads, saves and builds that an agent stopped half-way, their mounts undone,
        their trees of any depth deleted. What cannot go is logged and left: never a reason not to start."""
        for point in overlay.mounted_under(self.tmp):
            overlay.unmount(point)
        for name in os.listdir(self.tmp):
            paths.discard(self.tmp / name)

    # -- reading --------------------------------------------------------------------------------
    def _ids(self) -> list[str]:
        return ["sha256:" + p.stem for p in self.images_dir.glob("*.json") if _HEX.fullmatch(p.stem)]

    def get(self, image_id: str) -> Image:
        try:
            hexid = digest_hex(image_id)
            config = json.loads((self.images_dir / f"{hexid}.json").read_bytes())
            diff_ids = config.get("rootfs", {}).get("diff_ids", [])
            if not isinstance(config.get("config") or {}, dict) or not all(isinstance(d, str) for d in diff_ids):
                raise ValueError("not an image config")
        except (InvalidInput, FileNotFoundError, NotADirectoryError):
            raise NotFound(f"No such image: {image_id}") from None
        except (OSError, ValueError, AttributeError, TypeError) as e:
            raise SystemFailure(f"image {image_id} cannot be read ({e})") from None
        image_id = f"sha256:{hexid}"
        tags = sorted(t for t, i in self.repos.items() if i == image_id and "@" not in t)
        digests = sorted(t for t, i in self.repos.items() if i == image_id and "@" in t)
        layers = [self.layer_dir(d) / "diff" for d in diff_ids]
        size = sum(self.layer_size(d) for d in diff_ids)
        return Image(image_id, config, tags, digests, layers, size)

    def layer_dir(self, diff_id: str) -> Path:
        """Where a layer is kept (InvalidInput for anything but a sha256 digest: it names a folder)."""
        return self.layers_dir / digest_hex(diff_id, "sha256:")

    def layer_size(self, diff_id: str) -> int:
        """Bytes of the layer's uncompressed tar (0 for one that is not kept)."""
        try:
            return int(json.loads((self.layer_dir(diff_id) / "meta.json").read_text())["size"])
        except (FileNotFoundError, ValueError, KeyError, TypeError, InvalidInput):
            return 0

    def resolve(self, ref: str) -> Image:
        """An image by name[:tag], name@digest, full ID or unique ID prefix."""
        with self.lock:
            if not ref:
                raise NotFound("No such image: (empty name)")
            image_id = self.repos.get(normalize(ref))
            if image_id:
                return self.get(image_id)
            hexpart = ref.split(":", 1)[1] if ref.startswith("sha256:") else ref
            if len(hexpart) >= 4 and all(c in "0123456789abcdef" for c in hexpart):
                matches = [i for i in self._ids() if i[7:].startswith(hexpart)]
                if len(matches) == 1:
                    return self.get(matches[0])
                if len(matches) > 1:
                    raise InvalidInput(f"image ID prefix {ref!r} is ambiguous: use more characters")
            raise NotFound(f"No such image: {ref}")

    def exists(self, image_id: str) -> bool:
        try:
            return (self.images_dir / f"{digest_hex(image_id)}.json").exists()
        except InvalidInput:
            return False

    def layers_size(self) -> int:
        """Bytes of all the layers kept (uncompressed, as `docker images` counts an image's size)."""
        return sum(self.layer_size(f"sha256:{layer.name}") for layer in self.layers_dir.iterdir())

    def all(self) -> list[Image]:
        """Every readable image (one whose config cannot be read is skipped, with a warning)."""
        images = []
        with self.lock:
            for image_id in self._ids():
                try:
                    images.append(self.get(image_id))
                except SystemFailure as e:
                    log.warning("skipping %s", e)
        return images

    def layer_tar(self, diff_id: str) -> Path:
        return self.layer_dir(diff_id) / "layer.tar"

    # -- writing --------------------------------------------------------------------------------
    def _save_repos(self, repos: dict[str, str]) -> None:
        """Make `repos` the tags and digests, on disk first: when that fails (a full disk), nothing changed."""
        write_json(self._repos_path, repos, indent=1, sort_keys=True)
        self.repos = repos

    def _save_parents(self, parents: dict[str, str]) -> None:
        write_json(self._parents_path, parents)
        self.parents = parents

    def add_layer(self, stream: IO[bytes], expect: str | None = None, check: Callable[[], None] | None = None) -> str:
        """Unpack one layer tar (plain or gzip); returns its diff ID. Existing layers are reused.
        `check` runs once the stream is consumed, before the layer becomes visible (e.g. a blob digest)."""
        with writing(self.tmp):
            work = Path(tempfile.mkdtemp(dir=self.tmp))
        try:
            with writing(work):
                with open(work / "layer.tar", "wb") as copy:
                    reader = HashingReader(stream, copy)
                    tarsafe.extract(io.BufferedReader(reader, 1 << 20), work / "diff", layer=True)
                    diff_id = reader.drain()
                if expect and diff_id != expect:
                    raise InvalidInput(f"layer content does not match its digest: expected {expect}, got {diff_id}")
                if check is not None:
                    check()
                (work / "meta.json").write_text(json.dumps({"diff_id": diff_id, "size": reader.size}))
            final = self.layer_dir(diff_id)
            with self.lock:
                if not final.exists():
                    os.rename(work, final)
            return diff_id
        finally:
            paths.discard(work)

    def discard_layer(self, diff_id: str) -> None:
        """Delete a layer that no image names (one added but not used after all)."""
        with self.lock:
            for unused in self._unreferenced([diff_id]):
                paths.discard(self.layer_dir(unused))

    def has_layer(self, diff_id: str) -> bool:
        return (self.layer_dir(diff_id) / "meta.json").exists()

    def add_image(self, config_bytes: bytes, tags: list[str]) -> str:
        """Register an image config (its layers must be present); returns the image ID."""
        try:
            config = json.loads(config_bytes)
            diff_ids = config["rootfs"]["diff_ids"]
        except (ValueError, KeyError, TypeError):
            raise InvalidInput("invalid image config: no rootfs.diff_ids") from None
        if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
            raise InvalidInput("invalid image config: rootfs.diff_ids must be a list of digests")
        names = [Reference.parse(tag).local for tag in tags]
        missing = [d for d in diff_ids if not self.has_layer(d)]
        if missing:
            raise InvalidInput(f"image config names layers that were not provided: {', '.join(missing)}")
        image_id = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        config_path = self.images_dir / f"{image_id[7:]}.json"
        with self.lock:
            new = not config_path.exists()
            write_atomic(config_path, config_bytes)
            try:
                self._save_repos({**self.repos, **{name: image_id for name in names}})
            except NoSpace:
                if new:  # no image half added: listed untagged until it is loaded again
                    config_path.unlink()
                raise
        return image_id

    def set_parent(self, image_id: str, parent_id: str) -> None:
        """Record a build step's parent: intermediate images stay out of `docker images` and go with their child."""
        with self.lock:
            self._save_parents({**self.parents, image_id: parent_id})

    def is_intermediate(self, image: Image) -> bool:
        return not image.repo_tags and image.id in self.parents.values()

    def add_digest(self, name_at_digest: str, image_id: str) -> None:
        """Remember that `name@sha256:...` (a registry manifest) is this image."""
        with self.lock:
            self._save_repos({**self.repos, name_at_digest: image_id})

    def config_bytes(self, image_id: str) -> bytes:
        return (self.images_dir / f"{digest_hex(image_id)}.json").read_bytes()

    def compressed_layer(self, diff_id: str) -> Iterator[bytes]:
        """The layer as a deterministic gzip stream (what push uploads)."""
        with open(self.layer_tar(diff_id), "rb") as f:
            yield from gzip_chunks(f)

    def compressed_layer_digest(self, diff_id: str) -> tuple[str, int]:
        """Digest and size of compressed_layer(), computed once and kept in the layer's meta.json."""
        meta_path = self.layer_dir(diff_id) / "meta.json"
        meta = json.loads(meta_path.read_text())
        if "gzip_digest" not in meta:
            digest, size = hashlib.sha256(), 0
            for chunk in self.compressed_layer(diff_id):
                digest.update(chunk)
                size += len(chunk)
            meta.update(gzip_digest="sha256:" + digest.hexdigest(), gzip_size=size)
            write_json(meta_path, meta)
        return meta["gzip_digest"], meta["gzip_size"]

    def layer_pushed_to(self, diff_id: str) -> list[str]:
        """Registry repositories (registry/repo) this layer was pushed to, for cross-repository mounts."""
        try:
            meta = json.loads((self.layer_dir(diff_id) / "meta.json").read_text())
            return list(meta.get("pushed", []))
        except (FileNotFoundError, ValueError):
            return []

    def record_push(self, diff_id: str, repository: str) -> None:
        meta_path = self.layer_dir(diff_id) / "meta.json"
        with self.lock:
            meta = json.loads(meta_path.read_text())
            if repository not in meta.setdefault("pushed", []):
                meta["pushed"].append(repository)
                write_json(meta_path, meta)

    def tag(self, ref: str, repo_tag: str) -> None:
        image = self.resolve(ref)
        name = Reference.parse(repo_tag).local
        with self.lock:
            self._save_repos({**self.repos, name: image.id})

    def remove(self, ref: str, force: bool, users: Callable[[str], list[str]]) -> list[dict[str, str]]:
        """`docker rmi`: untag a name, and delete the image once no name is left (answers the CLI's list)."""
        with self.lock:
            image = self.resolve(ref)
            name = normalize(ref)
            by_name = name in self.repos
            if by_name and (len(image.repo_tags) > 1 or "@" in name):  # other tags keep the image
                self._save_repos({t: i for t, i in self.repos.items() if t != name})
                return [{"Untagged": name}]
            if not force and not by_name and len(image.repo_tags) > 1:
                raise Conflict(
                    f"conflict: unable to delete {image.id[7:19]} (must be forced) - "
                    f"image is referenced in multiple repositories"
                )
            in_use = users(image.id)
            if in_use and not force:
                raise Conflict(
                    f"conflict: unable to delete {ref} (must be forced) - image is being used by "
                    f"container {in_use[0][:12]}"
                )
            result = [{"Untagged": t} for t in image.repo_tags + image.repo_digests]
            names = set(image.repo_tags + image.repo_digests)
            self._save_repos({t: i for t, i in self.repos.items() if t not in names})
            if in_use:
                return result  # forced: untagged, the data stays while containers use it
            result += self._delete(image, users)
            return result

    def _delete(self, image: Image, users: Callable[[str], list[str]]) -> list[dict[str, str]]:
        """Delete an untagged image, then its parents that nothing else needs (build steps)."""
        parent = self.parents.get(image.id)
        self._save_parents({i: p for i, p in self.parents.items() if i != image.id})
        (self.images_dir / f"{image.id[7:]}.json").unlink()
        result = [{"Deleted": image.id}]
        for diff_id in self._unreferenced(image.diff_ids):
            paths.discard(self.layer_dir(diff_id))
        if parent and parent not in self.parents.values() and not users(parent):
            try:
                parent_image = self.get(parent)
            except NotFound:
                parent_image = None
            if parent_image is not None and not parent_image.repo_tags and not parent_image.repo_digests:
                result += self._delete(parent_image, users)
        return result

    def prune(self, everything: bool, users: Callable[[str], list[str]]) -> tuple[list[dict[str, str]], int]:
        """`docker image prune`: delete the untagged images no container uses (with `everything`, the tagged ones
        too); (what was untagged and deleted, the bytes of the layers that went with them)."""
        with self.lock:
            before = self.layers_size()
            deleted: list[dict[str, str]] = []
            for image in self.all():
                if not self.exists(image.id) or users(image.id) or (image.repo_tags and not everything):
                    continue  # gone with a child deleted before it, in use, or kept by its name
                deleted += self.remove(image.id, True, users)
            return deleted, before - self.layers_size()

    def _unreferenced(self, diff_ids: list[str]) -> list[str]:
        used = {d for i in self._ids() for d in self.get(i).diff_ids}
        return [d for d in diff_ids if d not in used]

    def history(self, ref: str) -> list[dict[str, Any]]:
        image = self.resolve(ref)
        diff_ids = iter(image.diff_ids)
        rows = []
        for entry in image.config.get("history", []):
            size = 0 if entry.get("empty_layer") else self.layer_size(next(diff_ids, ""))
            rows.append(
                {
                    "Id": "<missing>",
                    "Created": int(times.parse(entry.get("created", ""))),
                    "CreatedBy": entry.get("created_by", ""),
                    "Tags": None,
                    "Size": size,
                    "Comment": entry.get("comment", ""),
                }
            )
        rows.reverse()
        if rows:
            rows[0].update(Id=image.id, Tags=image.repo_tags or None)
        return rows
