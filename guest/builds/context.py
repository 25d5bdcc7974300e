"""The build context as COPY and ADD use it: sources matched by pattern (not those .dockerignore leaves out),
URLs downloaded, images of earlier stages mounted for --from, and the files copied into a new layer."""

from __future__ import annotations

import glob
import hashlib
import io
import os
import shutil
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..containers import users
from ..errors import InvalidInput
from ..images import overlay, tarsafe
from ..images.store import ImageStore
from ..images.streams import ChunkReader
from ..images.tarstream import tar_paths
from . import ignore
from .dockerfile import Instruction
from .stage import Stage


class BuildContext:
    """The unpacked context under `<work>/context`, with the build's downloads, mounts and layers beside it."""

    def __init__(self, images: ImageStore, work: Path):
        self.images = images
        self.work = work
        self.root = work / "context"
        self.patterns: list[str] = []

    def read_ignore(self) -> None:
        self.patterns = ignore.read(self.root)

    # -- where sources come from ------------------------------------------------------------------
    def source_root(self, inst: Instruction, stages: list[Stage]) -> Path:
        """The context, or with --from the filesystem of that stage or image."""
        source = inst.flags.get("from")
        if not source:
            return self.root
        earlier = next((s for s in stages[:-1] if s.name == source), None)
        if earlier is None and source.isdigit() and int(source) < len(stages) - 1:
            earlier = stages[int(source)]
        image_id = earlier.image_id if earlier else self.images.resolve(source).id
        return self.mount(image_id, self.work)

    def mount(self, image_id: str, work: Path) -> Path:
        """The image's filesystem, mounted read-only under `work`."""
        target = work / "mounts" / image_id[7:19]
        if not os.path.ismount(target):
            layers = self.images.get(image_id).layers
            overlay.mount(f"{image_id[7:19]} for COPY --from", target, layers, work / "mounts" / "empty")
        return target

    def unmount_all(self) -> None:
        for target in (self.work / "mounts").glob("*") if (self.work / "mounts").exists() else []:
            overlay.unmount(target)

    def _patterns_for(self, root: Path) -> list[str]:
        return self.patterns if root == self.root else []

    def sources(self, inst: Instruction, text: str, root: Path) -> tuple[list[Path], str]:
        """The paths the instruction copies (patterns expanded, URLs downloaded) and its destination."""
        words = inst.json_args if inst.json_args is not None else text.split()
        if len(words) < 2:
            raise inst.error(f"{inst.keyword} requires at least two arguments: sources and a destination")
        *patterns, dest = words
        found: list[Path] = []
        for pattern in patterns:
            if pattern.startswith(("http://", "https://")):
                if inst.keyword != "ADD":
                    raise inst.error("COPY takes no URLs: use ADD, or download into the build context")
                found.append(self.download(pattern))
                continue
            relative = os.path.normpath(pattern.lstrip("/"))
            if relative.startswith(".."):
                raise inst.error(f"{pattern}: forbidden path outside the build context")
            matches = (
                sorted(glob.glob(str(root / relative)))
                if glob.has_magic(relative)
                else ([str(root / relative)] if os.path.lexists(root / relative) else [])
            )
            matches = [m for m in matches if not ignore.ignored(os.path.relpath(m, root), self._patterns_for(root))]
            if not matches:
                raise inst.error(
                    f"{inst.keyword} failed: file not found in build context or excluded by "
                    f".dockerignore: stat {pattern}: file does not exist"
                )
            found += [Path(m) for m in matches]
        return found, dest

    def download(self, url: str) -> Path:
        """ADD of a URL: fetched once per build (its content then keys the cache); archives stay packed."""
        target = (
            self.work
            / "downloads"
            / hashlib.sha256(url.encode()).hexdigest()[:16]
            / (os.path.basename(urllib.parse.urlsplit(url).path) or "download")
        )
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
                    shutil.copyfileobj(response, out, 1 << 20)
            except (OSError, ValueError) as e:
                target.unlink(missing_ok=True)
                raise InvalidInput(f"ADD {url}: download failed: {e}") from None
            target.chmod(0o600)
        return target

    # -- what the step's cache key and layer are made of --------------------------------------------
    def digest(self, inst: Instruction, text: str, stages: list[Stage]) -> str:
        """The sources' names, modes and contents, hashed: a changed file misses the cache."""
        root = self.source_root(inst, stages)
        sources, _ = self.sources(inst, text, root)
        patterns = self._patterns_for(root)
        digest = hashlib.sha256()
        for source in sources:
            for path in [source, *sorted(source.rglob("*"))] if source.is_dir() else [source]:
                relative = os.path.relpath(path, root)
                if patterns and ignore.ignored(relative, patterns):
                    continue
                st = os.lstat(path)
                digest.update(f"{relative}\0{st.st_mode}\0".encode())
                if path.is_symlink():
                    digest.update(os.readlink(path).encode())
                elif path.is_file():
                    with open(path, "rb") as f:
                        for block in iter(lambda: f.read(1 << 20), b""):
                            digest.update(block)
        return digest.hexdigest()

    def layer(self, inst: Instruction, text: str, stage: Stage, stages: list[Stage], config: dict[str, Any]) -> str:
        """Copy the sources into a new layer (local archives unpacked for ADD); returns its diff ID."""
        root = self.source_root(inst, stages)
        sources, dest = self.sources(inst, text, root)
        workdir = (config.get("config") or {}).get("WorkingDir") or "/"
        dest_path = os.path.normpath(os.path.join(workdir, dest))
        into_dir = dest.endswith("/") or len(sources) > 1 or (len(sources) == 1 and sources[0].is_dir())
        layer = self.work / f"layer-{os.urandom(4).hex()}"
        target = layer / dest_path.lstrip("/")
        uid, gid = self.owner(inst.flags.get("chown", ""), stage)
        patterns = self._patterns_for(root)
        for source in sources:
            if (
                inst.keyword == "ADD"
                and source.is_file()
                and _is_archive(source)
                and not source.is_relative_to(self.work / "downloads")
            ):  # remote archives stay packed
                target.mkdir(parents=True, exist_ok=True)
                with open(source, "rb") as f:
                    tarsafe.extract(f, target)
                continue
            if source.is_dir() and not source.is_symlink():
                target.mkdir(parents=True, exist_ok=True)
                shutil.copytree(
                    source,
                    target,
                    symlinks=True,
                    dirs_exist_ok=True,
                    ignore=ignore.copytree_filter(root, patterns) if patterns else None,
                )
            else:
                final = target / source.name if into_dir else target
                final.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, final, follow_symlinks=False)
        for path in [layer, *layer.rglob("*")]:
            if path != layer:
                os.lchown(path, uid, gid)
        try:
            members = [(layer / child, child) for child in sorted(os.listdir(layer))]
            return self.images.add_layer(io.BufferedReader(ChunkReader(tar_paths(members))))
        finally:
            shutil.rmtree(layer, ignore_errors=True)

    def owner(self, chown: str, stage: Stage) -> tuple[int, int]:
        """uid and gid of --chown (names resolved in the stage's image)."""
        if not chown:
            return 0, 0
        user, _, group = chown.partition(":")
        if user.isdigit() and (not group or group.isdigit()):
            return int(user), int(group or user)
        root = self.mount(stage.image_id, self.images.tmp / "chown") if stage.image_id else Path("/nonexistent")
        try:
            uid, gid, _ = users.resolve(root, chown)
        except ValueError as e:
            raise InvalidInput(f"COPY --chown={chown}: {e}") from None
        finally:
            overlay.unmount(root)
        return uid, gid


def _is_archive(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(262)
    return head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or head[257:262] == b"ustar"
