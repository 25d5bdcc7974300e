"""The SFTP server behind a share: it serves one folder of the user's computer to `sshfs -o slave` in the machine,
over an exec channel of the machine's SSH connection, and nothing else of the computer.

Unlike OpenSSH's `sftp-server -d`, which is no chroot, every path the guest names is resolved here inside the
share, one component at a time through directory fds opened without following symlinks: a symlink is followed
only while it stays inside the share (an absolute one pointing into the share's own path included), `..` never
climbs above it, and what a check approved is what the operation acts on. A read-only share refuses every write
here, on the computer's side, whatever the mount options in the machine say.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paramiko
from paramiko.sftp import CMD_INIT, CMD_VERSION, SFTP_OK, SFTP_PERMISSION_DENIED, SFTPError
from paramiko.sftp_attr import SFTPAttributes
from paramiko.sftp_handle import SFTPHandle
from paramiko.sftp_server import SFTPServer
from paramiko.sftp_si import SFTPServerInterface

_MAX_LINKS = 40
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_WRITES = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class Outside(PermissionError):
    """The path leads out of the share."""

    def __init__(self, path: str):
        super().__init__(errno.EACCES, "outside the shared folder", path)


class ShareRoot:
    """The shared folder: paths inside it resolved to (directory fd, name) pairs."""

    def __init__(self, folder: Path, readonly: bool):
        self.folder = os.path.realpath(folder)
        self.readonly = readonly

    @contextmanager
    def locate(self, path: str, follow_last: bool = True) -> Iterator[tuple[int, str]]:
        """The directory fd holding `path` and its name there ("." for a folder reached as a whole); the last
        component need not exist. OSError when it cannot be reached inside the share (Outside when it leads out)."""
        fd = os.open(self.folder, _DIR)
        try:
            todo = _parts(path)[::-1]
            where: list[str] = []
            links = 0
            name = "."
            while todo:
                part = todo.pop()
                if part == "..":
                    if not where:
                        raise Outside(path)
                    where.pop()
                    fd = _swap(fd, self._open(where))
                    continue
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    if todo:
                        raise
                    name = part
                    break
                if stat.S_ISLNK(st.st_mode) and (todo or follow_last):
                    links += 1
                    if links > _MAX_LINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                    target = os.readlink(part, dir_fd=fd)
                    if target.startswith("/"):
                        if target != self.folder and not target.startswith(self.folder.rstrip("/") + "/"):
                            raise Outside(path)
                        where = []
                        fd = _swap(fd, os.open(self.folder, _DIR))
                        target = target[len(self.folder) :]
                    todo += _parts(target)[::-1]
                    continue
                if not todo:
                    name = part
                    break
                fd = _swap(fd, os.open(part, _DIR, dir_fd=fd))
                where.append(part)
            yield fd, name
        finally:
            os.close(fd)

    def _open(self, where: list[str]) -> int:
        fd = os.open(self.folder, _DIR)
        for part in where:
            fd = _swap(fd, os.open(part, _DIR, dir_fd=fd))
        return fd


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def _swap(old: int, new: int) -> int:
    os.close(old)
    return new


def _attributes(st: os.stat_result, name: str = "") -> SFTPAttributes:
    attr = SFTPAttributes.from_stat(st)
    attr.filename = name
    return attr


class _Handle(SFTPHandle):
    """An open file of the share (its fd was opened inside it)."""

    def __init__(self, fd: int, flags: int):
        super().__init__(flags)
        self.fd = fd
        mode = "r+b" if flags & os.O_RDWR else "wb" if flags & os.O_WRONLY else "rb"
        if flags & os.O_APPEND:
            mode = "a+b" if flags & os.O_RDWR else "ab"
        f = os.fdopen(fd, mode)
        if "r" in mode or "+" in mode:
            self.readfile = f
        if mode != "rb":
            self.writefile = f

    def stat(self) -> Any:
        return _attributes(os.fstat(self.fd))

    def chattr(self, attr: SFTPAttributes) -> int:
        return _set(self.fd, attr)


def _set(fd: int, attr: SFTPAttributes) -> int:
    """Apply what `attr` sets to the open file `fd`."""
    try:
        if attr.st_mode is not None:
            os.fchmod(fd, stat.S_IMODE(attr.st_mode))
        if attr.st_uid is not None and attr.st_gid is not None:
            os.fchown(fd, attr.st_uid, attr.st_gid)
        if attr.st_atime is not None and attr.st_mtime is not None:
            os.utime(fd, (attr.st_atime, attr.st_mtime))
        if attr.st_size is not None:
            os.ftruncate(fd, attr.st_size)
    except OSError as e:
        return _code(e)
    return SFTP_OK


def _code(error: OSError) -> int:
    return int(SFTPServer.convert_errno(error.errno or errno.EIO))


def _mode(attr: SFTPAttributes, default: int) -> int:
    return stat.S_IMODE(attr.st_mode) if attr.st_mode is not None else default


class ShareInterface(SFTPServerInterface):
    """SFTP operations, each resolved inside the share (ShareRoot.locate) before it acts."""

    def __init__(self, server: paramiko.ServerInterface, root: ShareRoot, started: threading.Event):
        super().__init__(server)
        self.root = root
        self.started = started

    def session_started(self) -> None:
        self.started.set()  # sshfs said hello: it mounts now

    def _do(self, path: str, follow_last: bool, action: Any, write: bool = False) -> Any:
        if write and self.root.readonly:
            return SFTP_PERMISSION_DENIED
        try:
            with self.root.locate(path, follow_last) as (fd, name):
                return action(fd, name)
        except OSError as e:
            return _code(e)

    def canonicalize(self, path: str) -> str:
        return posixpath.normpath("/" + path)

    def stat(self, path: str) -> Any:
        return self._do(path, True, lambda fd, name: _attributes(os.stat(name, dir_fd=fd, follow_symlinks=False)))

    def lstat(self, path: str) -> Any:
        return self._do(path, False, lambda fd, name: _attributes(os.stat(name, dir_fd=fd, follow_symlinks=False)))

    def list_folder(self, path: str) -> Any:
        def listing(fd: int, name: str) -> list[SFTPAttributes]:
            folder = os.open(name, _DIR, dir_fd=fd)
            try:
                found = [_attributes(os.fstat(folder), "."), _attributes(os.fstat(fd), "..")]
                for entry in os.listdir(folder):
                    try:
                        found.append(_attributes(os.stat(entry, dir_fd=folder, follow_symlinks=False), entry))
                    except FileNotFoundError:
                        pass
                return found
            finally:
                os.close(folder)

        return self._do(path, True, listing)

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> Any:
        mode = _mode(attr, 0o666)
        return self._do(path, True, lambda fd, name: _open_file(fd, name, flags, mode), write=bool(flags & _WRITES))

    def remove(self, path: str) -> int:
        return self._ok(self._do(path, False, lambda fd, name: os.unlink(name, dir_fd=fd), write=True))

    def rmdir(self, path: str) -> int:
        return self._ok(self._do(path, False, lambda fd, name: os.rmdir(name, dir_fd=fd), write=True))

    def mkdir(self, path: str, attr: SFTPAttributes) -> int:
        mode = _mode(attr, 0o777)
        return self._ok(self._do(path, False, lambda fd, name: os.mkdir(name, mode, dir_fd=fd), write=True))

    def symlink(self, target_path: str, path: str) -> int:
        return self._ok(self._do(path, False, lambda fd, name: os.symlink(target_path, name, dir_fd=fd), write=True))

    def readlink(self, path: str) -> Any:
        return self._do(path, False, lambda fd, name: os.readlink(name, dir_fd=fd))

    def rename(self, oldpath: str, newpath: str) -> int:
        return self._rename(oldpath, newpath, replace=False)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._rename(oldpath, newpath, replace=True)

    def _rename(self, oldpath: str, newpath: str, replace: bool) -> int:
        def to(fd: int, name: str) -> Any:
            def rename(new_fd: int, new_name: str) -> None:
                if not replace and _exists(new_fd, new_name):  # SFTP's rename never replaces (OpenSSH's neither)
                    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), newpath)
                os.rename(name, new_name, src_dir_fd=fd, dst_dir_fd=new_fd)

            return self._do(newpath, False, rename, write=True)

        return self._ok(self._do(oldpath, False, to, write=True))

    def chattr(self, path: str, attr: SFTPAttributes) -> int:
        def change(fd: int, name: str) -> int:
            target = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
            try:
                return _set(target, attr)
            finally:
                os.close(target)

        return self._ok(self._do(path, True, change, write=True))

    @staticmethod
    def _ok(result: Any) -> int:
        return result if isinstance(result, int) else SFTP_OK


def _exists(fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _open_file(fd: int, name: str, flags: int, mode: int) -> _Handle:
    """A regular file of the share, opened (a FIFO or device never blocks the server: it is refused)."""
    opened = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=fd)
    if not stat.S_ISREG(os.fstat(opened).st_mode):
        os.close(opened)
        raise OSError(errno.EACCES, "not a regular file", name)
    os.set_blocking(opened, True)
    return _Handle(opened, flags)


class _Server(SFTPServer):
    """paramiko's SFTP server, advertising the OpenSSH extension sshfs renames with."""

    def _send_server_version(self) -> int:
        t, _ = self._read_packet()  # type: ignore[attr-defined]
        if t != CMD_INIT:
            raise SFTPError("Incompatible sftp protocol")
        msg = paramiko.Message()
        msg.add_int(3)
        msg.add("posix-rename@openssh.com", "1")
        self._send_packet(CMD_VERSION, msg)  # type: ignore[attr-defined]
        return 3


class Served:
    """A share's SFTP server running on a channel: `started` once sshfs began its session."""

    def __init__(self, channel: paramiko.Channel, folder: Path, readonly: bool):
        self.started = threading.Event()
        server = _Server(
            channel, "sftp", paramiko.ServerInterface(), ShareInterface, ShareRoot(folder, readonly), self.started
        )

        def run() -> None:
            try:
                server.start_subsystem("sftp", channel.get_transport(), channel)
            finally:
                server.finish_subsystem()

        self.thread = threading.Thread(target=run, daemon=True, name=f"share {folder}")
        self.thread.start()
