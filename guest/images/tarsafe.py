"""Tar in and out of directories without ever writing outside the target.

Extraction refuses members that would escape the target: `..` components, absolute paths (a leading
`/` is stripped, as Docker does), a path through a symlink (parents are created and checked one
component at a time, never followed), and hard links to anything outside. In layer mode, AUFS
whiteouts become overlayfs ones: `.wh.NAME` a 0/0 character device NAME, `.wh..wh..opq` the
`trusted.overlay.opaque=y` xattr on its directory.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zlib
from pathlib import Path
from typing import IO

from ..errors import InvalidInput

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def _parts(name: str) -> list[str]:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"refusing tar member {name!r}: it points outside the target")
    return parts


def _parent_fd(root_fd: int, parts: list[str], member: str, create: bool) -> int:
    """An O_PATH-like fd of the directory that holds the member; never follows a symlink."""
    fd = os.dup(root_fd)
    for part in parts:
        try:
            st = os.stat(part, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            if not create:
                os.close(fd)
                raise InvalidInput(f"tar member {member!r}: {'/'.join(parts)} does not exist") from None
            os.mkdir(part, 0o755, dir_fd=fd)
            st = os.stat(part, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise InvalidInput(f"refusing tar member {member!r}: {part} is a symlink or file, not a directory")
        next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = next_fd
    return fd


def _remove(name: str, dir_fd: int) -> None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
        try:
            for child in os.listdir(sub):
                _remove(child, sub)
        finally:
            os.close(sub)
        os.rmdir(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def extract(stream: IO[bytes], target: Path, layer: bool = False, owners: bool = True) -> int:
    """Extract a tar stream (plain or gzip) into `target`; returns the bytes of file content written."""
    target.mkdir(parents=True, exist_ok=True)
    root_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    written = 0
    dir_times: list[tuple[list[str], tarfile.TarInfo]] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                parts = _parts(member.name)
                if not parts:
                    continue
                *parents, base = parts
                fd = _parent_fd(root_fd, parents, member.name, create=True)
                try:
                    written += _extract_member(tar, member, base, fd, root_fd, layer, owners)
                finally:
                    os.close(fd)
                if member.isdir():
                    dir_times.append((parts, member))
        for parts, member in reversed(dir_times):  # directory mtimes last: creating children changes them
            _set_dir_time(root_fd, parts, member.mtime)
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise InvalidInput(f"invalid tar archive: {e}") from None
    finally:
        os.close(root_fd)
    return written


def _set_dir_time(root_fd: int, parts: list[str], mtime: float) -> None:
    fd = _parent_fd(root_fd, parts[:-1], "/".join(parts), create=False)
    try:
        os.utime(parts[-1], (mtime, mtime), dir_fd=fd, follow_symlinks=False)
    except OSError:
        pass
    finally:
        os.close(fd)


def _extract_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, base: str, fd: int, root_fd: int, layer: bool, owners: bool
) -> int:
    if layer and base == OPAQUE:
        os.setxattr(f"/proc/self/fd/{fd}", "trusted.overlay.opaque", b"y")
        return 0
    if layer and base.startswith(WHITEOUT):
        name = base[len(WHITEOUT) :]
        _remove(name, fd)
        os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=fd)
        return 0
    existing = None
    try:
        existing = os.stat(base, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        pass
    if existing is not None and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
        _remove(base, fd)
    size = 0
    if member.isdir():
        if existing is None or not stat.S_ISDIR(existing.st_mode):
            os.mkdir(base, 0o700, dir_fd=fd)
    elif member.isfile():
        out = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd)
        with os.fdopen(out, "wb") as f:
            source = tar.extractfile(member)
            assert source is not None
            shutil.copyfileobj(source, f, 1 << 20)
        size = member.size
    elif member.issym():
        os.symlink(member.linkname, base, dir_fd=fd)
    elif member.islnk():
        link_parts = _parts(member.linkname)
        if not link_parts:
            raise InvalidInput(f"refusing hard link {member.name!r} to the target itself")
        src_fd = _parent_fd(root_fd, link_parts[:-1], member.name, create=False)
        try:
            if stat.S_ISDIR(os.stat(link_parts[-1], dir_fd=src_fd, follow_symlinks=False).st_mode):
                raise InvalidInput(f"refusing hard link {member.name!r} to a directory")
            os.link(link_parts[-1], base, src_dir_fd=src_fd, dst_dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            raise InvalidInput(
                f"hard link {member.name!r} points to {member.linkname!r}, which is not in the archive"
            ) from None
        finally:
            os.close(src_fd)
        return 0
    elif member.ischr() or member.isblk():
        if not layer:
            return 0  # device nodes only come with image layers
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(base, kind | (member.mode & 0o7777), os.makedev(member.devmajor, member.devminor), dir_fd=fd)
    elif member.isfifo():
        os.mkfifo(base, member.mode & 0o7777, dir_fd=fd)
    else:
        return 0
    path = f"/proc/self/fd/{fd}/{base}"
    if owners:
        try:
            os.chown(base, member.uid, member.gid, dir_fd=fd, follow_symlinks=False)
        except OSError:
            pass
    if not member.issym():
        os.chmod(path, member.mode & 0o7777)
        for key, value in (member.pax_headers or {}).items():
            if key.startswith("SCHILY.xattr."):
                try:
                    os.setxattr(path, key[len("SCHILY.xattr.") :], value.encode("utf-8", "surrogateescape"))
                except OSError:
                    pass
        if not member.isdir():
            os.utime(base, (member.mtime, member.mtime), dir_fd=fd, follow_symlinks=False)
    return size
