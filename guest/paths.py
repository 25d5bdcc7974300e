"""Paths inside a root (a build context, an image, a container) as the root's own processes see them, and trees
walked and deleted without recursion on depth.

locate() follows symlinks inside the root and never out of it (Docker's FollowSymlinkInScope: a link to /etc
means ROOT/etc, `..` stops at the root), optionally across the mount points of a container. It walks through
directory fds opened with O_NOFOLLOW, so a component swapped for a symlink half-way cannot lead out either.
Dirs keeps the directories along one path open for walks, extraction and deletion of trees of any depth.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

log = logging.getLogger("guest.paths")

MAX_LINKS = 40  # as Linux: more symlinks on one path is a loop
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def split(path: str) -> list[str]:
    """The components of `path`, without empty ones and `.` (`..` kept)."""
    return [part for part in path.split("/") if part not in ("", ".")]


def open_dir(parent: int, name: str, create: bool = False) -> int:
    """The directory `name` under the directory fd `parent`, never through a symlink (made 0755 with `create`)."""
    try:
        return os.open(name, _DIR, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(name, 0o755, dir_fd=parent)
        except FileExistsError:
            pass  # made meanwhile: opened below like any other
        return os.open(name, _DIR, dir_fd=parent)


class Dirs:
    """Open directories along one path below a root fd, reused from one call to the next (tar members and walks
    come in tree order). However deep the path, few fds stay open: the last STEP levels and every STEP-th one."""

    STEP = 32

    def __init__(self, root: int):
        self._names: list[str] = []
        self._fds: list[int | None] = [os.dup(root)]

    def __enter__(self) -> Dirs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut(0)
        os.close(self._root)

    @property
    def _root(self) -> int:
        fd = self._fds[0]
        assert fd is not None
        return fd

    def fd(self, parts: list[str], create: bool = False) -> int:
        """The directory at `parts` below the root (valid until the next call); symlinks are refused (ELOOP)."""
        names = self._names
        keep = min(len(names), len(parts))
        if names[:keep] != parts[:keep]:  # a side step: the paths part where they differ
            keep = next(i for i, (a, b) in enumerate(zip(names, parts)) if a != b)
        self.cut(keep)
        nearest = keep
        while self._fds[nearest] is None:
            nearest -= 1
        for i in range(nearest, keep):  # reopen the levels closed to save fds
            self._fds[i + 1] = open_dir(self._at(i), names[i])
        for part in parts[keep:]:
            self._fds.append(open_dir(self._at(len(names)), part, create))
            names.append(part)
            spare = len(names) - self.STEP
            if spare > 0 and spare % self.STEP:
                fd, self._fds[spare] = self._fds[spare], None
                if fd is not None:
                    os.close(fd)
        return self._at(len(names))

    def _at(self, depth: int) -> int:
        fd = self._fds[depth]
        assert fd is not None
        return fd

    def cut(self, depth: int) -> None:
        """Forget the directories deeper than `depth` (one of them was removed or replaced)."""
        while len(self._names) > depth:
            self._names.pop()
            fd = self._fds.pop()
            if fd is not None:
                os.close(fd)


@dataclass
class Location:
    """Where a path leads inside a root: the directory fd that holds it and its name there ("." when the path
    ends on a directory reached through `..`, a symlink or a mount point: then `parent` is that directory)."""

    parent: int
    name: str
    path: str  # inside the root, symlinks resolved: "/usr/bin/x"
    mount: str = "/"  # the mount point it is under ("/": none)
    _closed: bool = field(default=False, repr=False)

    def __enter__(self) -> Location:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.parent)

    def lstat(self) -> os.stat_result | None:
        """Its lstat, None when it does not exist."""
        try:
            return os.stat(self.name, dir_fd=self.parent, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def open_dir(self) -> int:
        """An fd of it as a directory (ELOOP or ENOTDIR when it is none)."""
        return open_dir(self.parent, self.name)

    def read(self, limit: int) -> bytes:
        """Its first `limit` bytes as a regular file (OSError when it is no regular file)."""
        fd = os.open(self.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self.parent)
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", self.path)
            return f.read(limit)


def locate(root: int, path: str, follow_last: bool = True, mounts: Mapping[str, Path] | None = None) -> Location:
    """Where `path` leads inside the directory fd `root`, following symlinks inside it (the last component's only
    with `follow_last`). `mounts` maps absolute mount points to the directories mounted there (a container's
    volumes and binds). The last component need not exist; a missing or non-directory parent raises OSError,
    as does a symlink loop (ELOOP) and a NUL byte (EINVAL)."""
    if "\0" in path:
        raise OSError(errno.EINVAL, "a path holds no NUL byte", path)
    mounts = mounts or {}
    todo = split(path)[::-1]  # a stack: the next component last
    where: list[str] = []
    fd = os.dup(root)
    links = 0
    try:
        while todo:
            part = todo.pop()
            if part == "..":
                if where:
                    where.pop()
                    fd = _replace(fd, _reopen(root, where, mounts))
                continue
            inside = "/" + "/".join([*where, part])
            if inside in mounts:
                fd = _replace(fd, os.open(mounts[inside], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
                where.append(part)
                continue
            try:
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if todo:
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), inside) from None
                return Location(fd, part, inside, _mount_of(inside, mounts))
            if stat.S_ISLNK(st.st_mode) and (todo or follow_last):
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(part, dir_fd=fd)
                if target.startswith("/"):
                    where = []
                    fd = _replace(fd, os.dup(root))
                todo += split(target)[::-1]
                continue
            if not todo:
                return Location(fd, part, inside, _mount_of(inside, mounts))
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), inside)
            fd = _replace(fd, open_dir(fd, part))
            where.append(part)
    except BaseException:
        os.close(fd)
        raise
    inside = "/" + "/".join(where)
    return Location(fd, ".", inside, _mount_of(inside, mounts))


def make_dirs(root: int, path: str, mode: int = 0o755) -> str:
    """`mkdir -p` of `path` inside the directory fd `root`, as Docker makes a WORKDIR: symlinks on the way are
    followed inside the root and what they name is made there (a link to a host folder means the root's own).
    Returns the path made, resolved; NotADirectoryError when a file is in the way."""
    while True:  # each round makes one folder the next one passes (locate() bounds the links followed) or ends
        try:
            with locate(root, path) as found:
                st = found.lstat()
                if st is not None and not stat.S_ISDIR(st.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), found.path)
                if st is not None:
                    return found.path
                _mkdir(found, mode)
        except FileNotFoundError as e:  # a folder on the way is missing: `e.filename`, resolved, its parent there
            with locate(root, str(e.filename), follow_last=False) as missing:
                _mkdir(missing, mode)


def _mkdir(where: Location, mode: int) -> None:
    try:
        os.mkdir(where.name, mode, dir_fd=where.parent)
    except FileExistsError:
        pass  # made meanwhile: the next round looks at it


def _replace(old: int, new: int) -> int:
    os.close(old)
    return new


def _reopen(root: int, where: list[str], mounts: Mapping[str, Path]) -> int:
    """The directory at `where` (resolved components) opened again from the root, mount points included."""
    fd = os.dup(root)
    try:
        for depth, part in enumerate(where, 1):
            inside = "/" + "/".join(where[:depth])
            fd = _replace(
                fd,
                os.open(mounts[inside], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                if inside in mounts
                else open_dir(fd, part),
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def _mount_of(inside: str, mounts: Mapping[str, Path]) -> str:
    under = [m for m in mounts if inside == m or inside.startswith(m.rstrip("/") + "/")]
    return max(under, key=len, default="/")


def resolve(root: Path, path: str, follow_last: bool = True) -> Path:
    """`path` inside the directory `root`, symlinks followed inside it: for roots that nothing else changes
    meanwhile (a build context, an image's read-only mount), where a path is as good as an fd."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with locate(fd, path, follow_last) as found:
            return root.joinpath(*split(found.path))
    finally:
        os.close(fd)


def read(root: Path, path: str, limit: int = 16 << 20) -> bytes:
    """The first `limit` bytes of the regular file at `path` inside `root` (OSError when there is none)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with locate(fd, path) as found:
            return found.read(limit)
    finally:
        os.close(fd)


def discard(path: Path) -> None:
    """rmtree() for clean-ups: a failure is logged, not raised (the agent's next start sweeps leftovers again)."""
    try:
        rmtree(path)
    except OSError as e:
        log.warning("could not delete %s: %s", path, e)


@dataclass
class Entry:
    """One entry of a walk: its directory's fd (valid until the walk's next step), name, path below the top
    (a list the walk reuses: copy it to keep it) and lstat."""

    parent: int
    name: str
    parts: list[str]
    stat: os.stat_result


def tree(parent: int, name: str, skip: Callable[[list[str]], bool] | None = None) -> Iterator[Entry]:
    """`name` in the directory fd `parent` (its parts: []) and, when it is a directory, everything below it as
    walk() gives it."""
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    yield Entry(parent, name, [], st)
    if stat.S_ISDIR(st.st_mode):
        top = open_dir(parent, name)
        try:
            yield from walk(top, skip)
        finally:
            os.close(top)


def walk(top: int, skip: Callable[[list[str]], bool] | None = None) -> Iterator[Entry]:
    """Everything below the directory fd `top`, parents first and in name order, symlinks not followed, without
    recursion. Entries for which `skip(parts)` is true are left out with all they hold; entries that vanish
    during the walk (a running container's) are left out too."""
    path: list[str] = []
    with Dirs(top) as dirs:
        pending = [sorted(os.listdir(top), reverse=True)]  # names still to visit, per level of `path`
        while pending:
            if not pending[-1]:
                pending.pop()
                if path:
                    path.pop()
                continue
            name = pending[-1].pop()
            fd = dirs.fd(path)
            path.append(name)
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is None or (skip is not None and skip(path)):
                path.pop()
                continue
            yield Entry(fd, name, path, st)
            children: list[str] = []
            if stat.S_ISDIR(st.st_mode):
                try:
                    children = sorted(os.listdir(dirs.fd(path)), reverse=True)
                except (FileNotFoundError, NotADirectoryError):
                    pass
                except OSError as e:
                    if e.errno != errno.ELOOP:
                        raise
            pending.append(children)


def remove(parent: int, name: str) -> None:
    """Delete `name` under the directory fd `parent` with all it holds: no recursion, no symlink followed, no
    other filesystem entered (OSError EBUSY at a mount point). A missing `name` is not an error."""
    try:
        top = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(top.st_mode):
        os.unlink(name, dir_fd=parent)
        return
    path = [name]
    with Dirs(parent) as dirs:
        subdirs: list[list[str] | None] = [None]  # per level of `path`: the subdirectories left to delete
        while path:
            fd = dirs.fd(path)
            left = subdirs[-1]
            if left is None:
                left = subdirs[-1] = []
                for entry in os.scandir(fd):
                    if not entry.is_dir(follow_symlinks=False):
                        _unlink(entry.name, fd)
                    elif entry.stat(follow_symlinks=False).st_dev != top.st_dev:
                        raise OSError(errno.EBUSY, "a mount point is in the way", "/".join([*path, entry.name]))
                    else:
                        left.append(entry.name)
            if left:
                path.append(left.pop())
                subdirs.append(None)
                continue
            subdirs.pop()
            done = path.pop()
            dirs.cut(len(path))
            os.rmdir(done, dir_fd=dirs.fd(path))


def _unlink(name: str, parent: int) -> None:
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass


def rmtree(path: Path) -> None:
    """Delete the file or tree at `path` as remove() does (a missing one is not an error)."""
    try:
        parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        remove(parent, path.name)
    finally:
        os.close(parent)
