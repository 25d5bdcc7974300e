"""The build context as COPY and ADD use it: sources matched by pattern (not those .dockerignore leaves out),
URLs downloaded, images of earlier stages mounted for --from, and the files copied into a new layer."""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import io
import os
import posixpath
import shutil
import stat
import tarfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from .. import paths
from ..containers import users
from ..errors import InvalidInput
from ..images import overlay, tarsafe
from ..images.store import ImageStore
from ..images.streams import ChunkReader
from ..images.tarstream import Skip, TarWriter, tar_stream
from ..paths import split
from . import ignore
from .dockerfile import Instruction
from .stage import Stage

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


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

    def _filters(self, root: Path, source: Path) -> tuple[Skip | None, Skip | None]:
        """What .dockerignore leaves out below `source` (in the context only): the walk's `skip`, and the folders
        it enters only for `!` exceptions (ignore.walk_filters)."""
        if root != self.root or not self.patterns:
            return None, None
        return ignore.walk_filters(os.path.relpath(source, root), self.patterns)

    def sources(self, inst: Instruction, text: str, root: Path) -> tuple[list[Source], str]:
        """The paths the instruction copies (patterns expanded, URLs downloaded) and its destination. Each is
        resolved inside `root` as if it were `/`: a symlink to /etc is ROOT/etc, never the host's."""
        words = inst.json_args if inst.json_args is not None else text.split()
        if len(words) < 2:
            raise inst.error(f"{inst.keyword} requires at least two arguments: sources and a destination")
        *patterns, dest = words
        found: list[Source] = []
        for pattern in patterns:
            if pattern.startswith(("http://", "https://")):
                if inst.keyword != "ADD":
                    raise inst.error("COPY takes no URLs: use ADD, or download into the build context")
                path = self.download(pattern)
                found.append(Source(path.name, path))
                continue
            relative = os.path.normpath(pattern.lstrip("/"))
            if relative == ".." or relative.startswith("../"):
                raise inst.error(f"{pattern}: forbidden path outside the build context")
            matches = [source for name in _expand(root, relative) for source in self._source(root, name)]
            if not matches:
                raise inst.error(
                    f"{inst.keyword} failed: file not found in build context or excluded by "
                    f".dockerignore: stat {pattern}: file does not exist"
                )
            found += matches
        return found, dest

    def _source(self, root: Path, name: str) -> list[Source]:
        """`name` resolved inside `root` ([] when it is not there or .dockerignore leaves it out)."""
        patterns = self.patterns if root == self.root else []
        if patterns and ignore.ignored(name, patterns):
            return []
        try:
            path = paths.resolve(root, name)
            os.lstat(path)
        except OSError:
            return []
        if patterns and path != root and ignore.ignored(os.path.relpath(path, root), patterns):
            return []
        return [Source(name, path)]

    def download(self, url: str) -> Path:
        """ADD of a URL: fetched once per build (its content then keys the cache); archives stay packed."""
        name = os.path.basename(urllib.parse.urlsplit(url).path)
        target = (
            self.work
            / "downloads"
            / hashlib.sha256(url.encode()).hexdigest()[:16]
            / (name if name not in ("", ".", "..") else "download")
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
        digest = hashlib.sha256()
        for source in sources:
            top = os.path.relpath(source.path, root)
            parent = os.open(source.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                for found in paths.tree(parent, source.path.name, self._filters(root, source.path)[0]):
                    digest.update(f"{'/'.join([top, *found.parts])}\0{found.stat.st_mode}\0".encode())
                    if stat.S_ISLNK(found.stat.st_mode):
                        digest.update(os.readlink(found.name, dir_fd=found.parent).encode())
                    elif stat.S_ISREG(found.stat.st_mode):
                        with open(os.open(found.name, _READ, dir_fd=found.parent), "rb") as f:
                            for block in iter(lambda: f.read(1 << 20), b""):
                                digest.update(block)
            finally:
                os.close(parent)
        return digest.hexdigest()

    def layer(self, inst: Instruction, text: str, stage: Stage, stages: list[Stage], config: dict[str, Any]) -> str:
        """Copy the sources into a new layer (local archives unpacked for ADD); returns its diff ID."""
        root = self.source_root(inst, stages)
        sources, dest = self.sources(inst, text, root)
        workdir = (config.get("config") or {}).get("WorkingDir") or "/"
        target = os.path.normpath(os.path.join(workdir, dest)).lstrip("/")
        into_dir = dest.endswith("/") or len(sources) > 1 or (len(sources) == 1 and _is_dir(sources[0].path))
        writer = TarWriter(owner=self.owner(inst.flags.get("chown", ""), stage))
        unpacked: list[Path] = []

        def pieces() -> Iterator[bytes]:
            folders = split(target if into_dir else os.path.dirname(target))
            for depth in range(1, len(folders) + 1):  # the destination's folders, made as Docker makes them
                info = tarfile.TarInfo("/".join(folders[:depth]))
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
                yield writer.header(info)
            for source in sources:
                path = source.path
                if _is_dir(path):
                    yield from writer.path(path, target, *self._filters(root, path))
                elif inst.keyword == "ADD" and _is_archive(path) and not path.is_relative_to(self.work / "downloads"):
                    unpacked.append(self.work / f"unpacked-{os.urandom(4).hex()}")  # remote archives stay packed
                    with open(path, "rb") as f:
                        tarsafe.extract(f, unpacked[-1], owners=False)
                    unpacked[-1].chmod(0o755)
                    yield from writer.path(unpacked[-1], target)
                else:
                    yield from writer.path(path, posixpath.join(target, source.base) if into_dir else target)

        try:
            return self.images.add_layer(io.BufferedReader(ChunkReader(tar_stream(pieces()))))
        finally:
            for folder in unpacked:
                paths.discard(folder)

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


class Source(NamedTuple):
    """A COPY or ADD source: the name it was given (its base names the copy) and where that leads."""

    name: str
    path: Path

    @property
    def base(self) -> str:
        return os.path.basename(os.path.normpath(self.name))


def _expand(root: Path, pattern: str) -> list[str]:
    """The names in `root` a source pattern matches, one component at a time (folders resolved inside `root`);
    as Docker's, `*` matches names with a leading dot too."""
    if not glob.has_magic(pattern):
        return [pattern]
    found = [""]
    for part in pattern.split("/"):
        if not glob.has_magic(part):
            found = [posixpath.join(f, part) for f in found]
            continue
        matched = []
        for folder in found:
            try:
                names = os.listdir(paths.resolve(root, folder))
            except OSError:
                continue
            matched += [posixpath.join(folder, n) for n in sorted(names) if fnmatch.fnmatchcase(n, part)]
        found = matched
    return found


def _is_dir(path: Path) -> bool:
    return stat.S_ISDIR(os.lstat(path).st_mode)


def _is_archive(path: Path) -> bool:
    if not stat.S_ISREG(os.lstat(path).st_mode):
        return False
    with open(path, "rb") as f:
        head = f.read(262)
    return head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or head[257:262] == b"ustar"
