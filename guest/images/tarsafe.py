"""Tar in and out of directories without ever writing outside the target.

Extraction refuses members that would escape the target: `..` components, absolute paths (a leading
`/` is stripped, as Docker does), a path through a symlink (parents are opened one component at a time
with O_NOFOLLOW, as directory fds that paths.Dirs keeps for the next member: no depth is too deep), and
hard links to anything outside. In layer mode, AUFS whiteouts become overlayfs ones: `.wh.NAME` a 0/0
character device NAME, `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its directory; a whiteout
of `.`, `..` or nothing is refused before it touches anything.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
import zlib
from pathlib import Path
from typing import IO

from .. import paths
from ..errors import InvalidInput

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


_USER_ERRORS = {errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY}


def _parts(name: str) -> list[str]:
    if "\0" in name:
        raise InvalidInput(f"refusing tar member {name!r}: its name holds a NUL byte")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"refusing tar member {name!r}: it points outside the target")
    return parts


def _whiteout(member: str, base: str) -> str | None:
    """The name a layer member whites out (None for other members); `.`, `..` and an empty name are refused."""
    if not base.startswith(WHITEOUT) or base == OPAQUE:
        return None
    name = base[len(WHITEOUT) :]
    if name in ("", ".", ".."):
        raise InvalidInput(f"refusing tar member {member!r}: a whiteout must name a file in its folder")
    return name


def _folder(dirs: paths.Dirs, parts: list[str], member: str, create: bool = True) -> int:
    """The fd of the folder `parts` below the target (made when missing with `create`); never through a symlink."""
    try:
        return dirs.fd(parts, create)
    except FileNotFoundError:
        raise InvalidInput(f"tar member {member!r}: {'/'.join(parts)} does not exist") from None
    except OSError as e:
        if e.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        raise InvalidInput(
            f"refusing tar member {member!r}: a folder on its path ({'/'.join(parts)}) is a symlink or a file"
        ) from None


def extract(stream: IO[bytes], target: Path, layer: bool = False, owners: bool = True) -> int:
    """Extract a tar stream (plain or gzip) into `target`; returns the bytes of file content written."""
    target.mkdir(parents=True, exist_ok=True)
    root = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return extract_at(stream, root, layer, owners)
    finally:
        os.close(root)


def extract_at(stream: IO[bytes], root: int, layer: bool = False, owners: bool = True) -> int:
    """extract() into the directory fd `root`."""
    name = ""
    try:
        with paths.Dirs(root) as dirs, tarfile.open(fileobj=stream, mode="r|*") as tar:
            extraction = _Extraction(tar, root, dirs, layer, owners)
            for member in tar:
                name = member.name
                extraction.add(member)
            extraction.set_dir_times()
            return extraction.written
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise InvalidInput(f"invalid tar archive: {e}") from None
    except OSError as e:
        if e.errno not in _USER_ERRORS or not name:
            raise
        raise InvalidInput(f"cannot extract tar member {name!r}: {e.strerror}") from None


class _Extraction:
    """One archive's members written under the directory fd `root`, in the order they come."""

    def __init__(self, tar: tarfile.TarFile, root: int, dirs: paths.Dirs, layer: bool, owners: bool):
        self.tar, self.root, self.dirs = tar, root, dirs
        self.layer, self.owners = layer, owners
        self.written = 0
        self.dir_times: list[tuple[str, float]] = []

    def add(self, member: tarfile.TarInfo) -> None:
        parts = _parts(member.name)
        if not parts:
            return
        *parents, base = parts
        whiteout = _whiteout(member.name, base) if self.layer else None
        fd = _folder(self.dirs, parents, member.name)
        if whiteout is not None:
            self._clear(fd, whiteout, len(parents))
            os.mknod(whiteout, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=fd)
            return
        if self.layer and base == OPAQUE:
            os.setxattr(f"/proc/self/fd/{fd}", "trusted.overlay.opaque", b"y")
            return
        try:
            existing = os.stat(base, dir_fd=fd, follow_symlinks=False)
            if not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
                self._clear(fd, base, len(parents))
        except FileNotFoundError:
            pass
        if self._create(member, base, fd):
            if self.owners:
                try:
                    os.chown(base, member.uid, member.gid, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    pass
            if not member.issym():
                _set_attributes(member, base, fd)
        if member.isdir():
            self.dir_times.append(("/".join(parts), member.mtime))

    def _clear(self, fd: int, name: str, depth: int) -> None:
        """Delete what is at `name` in the folder fd `fd` (at `depth`), and forget the folders open below it."""
        paths.remove(fd, name)
        self.dirs.cut(depth)

    def _create(self, member: tarfile.TarInfo, base: str, fd: int) -> bool:
        """Make the member's file, folder, link or node; False when there is nothing to set on it."""
        if member.isdir():
            try:
                os.mkdir(base, 0o700, dir_fd=fd)
            except FileExistsError:
                pass  # kept: a folder that was there already
        elif member.isfile():
            out = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=fd)
            with os.fdopen(out, "wb") as f:
                source = self.tar.extractfile(member)
                assert source is not None
                shutil.copyfileobj(source, f, 1 << 20)
            self.written += member.size
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=fd)
        elif member.islnk():
            _hard_link(member, base, fd, self.root)
            return False
        elif (member.ischr() or member.isblk()) and self.layer:  # device nodes only come with image layers
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(base, kind | (member.mode & 0o7777), os.makedev(member.devmajor, member.devminor), dir_fd=fd)
        elif member.isfifo():
            os.mkfifo(base, member.mode & 0o7777, dir_fd=fd)
        else:
            return False
        return True

    def set_dir_times(self) -> None:
        """Folder mtimes last, deepest first: creating their children changed them."""
        for path, mtime in reversed(self.dir_times):
            *parents, base = path.split("/")
            try:
                os.utime(base, (mtime, mtime), dir_fd=self.dirs.fd(parents), follow_symlinks=False)
            except OSError:
                pass


def _set_attributes(member: tarfile.TarInfo, base: str, fd: int) -> None:
    """Mode, xattrs and mtime, through an O_PATH fd: what is there now, never what a symlink swapped in points to."""
    handle = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    try:
        if stat.S_ISLNK(os.fstat(handle).st_mode):
            return
        path = f"/proc/self/fd/{handle}"
        os.chmod(path, member.mode & 0o7777)
        for key, value in (member.pax_headers or {}).items():
            if key.startswith("SCHILY.xattr."):
                try:
                    os.setxattr(path, key[len("SCHILY.xattr.") :], value.encode("utf-8", "surrogateescape"))
                except OSError:
                    pass
        if not member.isdir():
            os.utime(path, (member.mtime, member.mtime))
    finally:
        os.close(handle)


def _hard_link(member: tarfile.TarInfo, base: str, fd: int, root: int) -> None:
    """A hard link to a file extracted before it (never to a directory, nor to anything outside the target)."""
    link_parts = _parts(member.linkname)
    if not link_parts:
        raise InvalidInput(f"refusing hard link {member.name!r} to the target itself")
    with paths.Dirs(root) as sources:
        folder = _folder(sources, link_parts[:-1], member.name, create=False)
        try:
            if stat.S_ISDIR(os.stat(link_parts[-1], dir_fd=folder, follow_symlinks=False).st_mode):
                raise InvalidInput(f"refusing hard link {member.name!r} to a directory")
            os.link(link_parts[-1], base, src_dir_fd=folder, dst_dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            raise InvalidInput(
                f"hard link {member.name!r} points to {member.linkname!r}, which is not in the archive"
            ) from None
