"""The share's SFTP operations on a real folder: everything resolved inside the share, links that lead out
refused, a read-only share refusing every write on this side."""

from __future__ import annotations

import os
from pathlib import Path

import paramiko
import pytest
from paramiko.sftp import SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED
from paramiko.sftp_attr import SFTPAttributes

from machine.sharing.sftpserver import ShareInterface, ShareRoot


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    share = tmp_path / "share"
    (share / "sub").mkdir(parents=True)
    (share / "sub" / "file.txt").write_text("inside\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    os.symlink(str(tmp_path / "secret.txt"), share / "abs-out")
    os.symlink("../secret.txt", share / "rel-out")
    os.symlink("../../secret.txt", share / "sub" / "deep-out")
    os.symlink(str(share / "sub" / "file.txt"), share / "abs-in")
    os.symlink("sub/file.txt", share / "rel-in")
    os.symlink("sub", share / "dir-in")
    os.symlink(str(tmp_path), share / "dir-out")
    return share


def interface(folder: Path, readonly: bool = False) -> ShareInterface:
    import threading

    return ShareInterface(paramiko.ServerInterface(), ShareRoot(folder, readonly), threading.Event())


def read(si: ShareInterface, path: str) -> bytes | int:
    handle = si.open(path, os.O_RDONLY, SFTPAttributes())
    if isinstance(handle, int):
        return handle
    try:
        data = handle.read(0, 1024)
        return data if isinstance(data, bytes) else int(data)
    finally:
        handle.close()


def test_paths_inside_the_share_work(tree: Path) -> None:
    si = interface(tree)
    for path in ("/sub/file.txt", "sub/file.txt", "/abs-in", "/rel-in", "/dir-in/file.txt", "/sub/../sub/file.txt"):
        assert read(si, path) == b"inside\n", path
    names = sorted(a.filename for a in si.list_folder("/dir-in"))
    assert names == [".", "..", "deep-out", "file.txt"]
    assert si.readlink("/abs-out") == str(tree.parent / "secret.txt")  # a link's text is no secret


def test_nothing_outside_the_share_is_reached(tree: Path) -> None:
    si = interface(tree)
    for path in ("/abs-out", "/rel-out", "/sub/deep-out", "/../secret.txt", "/dir-out/secret.txt", "/sub/../../x"):
        assert read(si, path) == SFTP_PERMISSION_DENIED, path
        assert si.stat(path) == SFTP_PERMISSION_DENIED, path
    assert si.list_folder("/dir-out") == SFTP_PERMISSION_DENIED
    assert si.mkdir("/dir-out/made", SFTPAttributes()) == SFTP_PERMISSION_DENIED
    assert si.rename("/sub/file.txt", "/dir-out/stolen.txt") == SFTP_PERMISSION_DENIED
    assert si.chattr("/abs-out", _mode(0o777)) == SFTP_PERMISSION_DENIED
    assert oct((tree.parent / "secret.txt").stat().st_mode & 0o777) != "0o777"
    assert not (tree.parent / "stolen.txt").exists() and not (tree.parent / "made").exists()


def test_writes_land_in_the_share_as_this_user(tree: Path) -> None:
    si = interface(tree)
    handle = si.open("/new.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SFTPAttributes())
    assert not isinstance(handle, int)
    assert handle.write(0, b"written\n") == SFTP_OK
    handle.close()
    assert (tree / "new.txt").read_text() == "written\n" and (tree / "new.txt").stat().st_uid == os.getuid()
    assert si.mkdir("/made", SFTPAttributes()) == SFTP_OK
    assert si.rename("/new.txt", "/made/new.txt") == SFTP_OK
    (tree / "other.txt").write_text("x")
    assert si.rename("/other.txt", "/made/new.txt") != SFTP_OK  # SFTP's plain rename never replaces
    assert si.posix_rename("/other.txt", "/made/new.txt") == SFTP_OK
    assert si.symlink("/etc/passwd", "/link") == SFTP_OK  # made, but never followed out
    assert read(si, "/link") == SFTP_PERMISSION_DENIED
    assert si.remove("/link") == SFTP_OK and si.remove("/nothing") == SFTP_NO_SUCH_FILE
    assert si.rmdir("/made") != SFTP_OK  # not empty


def test_a_read_only_share_refuses_every_write(tree: Path) -> None:
    si = interface(tree, readonly=True)
    assert read(si, "/sub/file.txt") == b"inside\n"
    assert si.open("/sub/file.txt", os.O_WRONLY, SFTPAttributes()) == SFTP_PERMISSION_DENIED
    assert si.open("/new", os.O_WRONLY | os.O_CREAT, SFTPAttributes()) == SFTP_PERMISSION_DENIED
    assert si.remove("/sub/file.txt") == SFTP_PERMISSION_DENIED
    assert si.rename("/sub/file.txt", "/moved") == SFTP_PERMISSION_DENIED
    assert si.mkdir("/d", SFTPAttributes()) == SFTP_PERMISSION_DENIED
    assert si.rmdir("/sub") == SFTP_PERMISSION_DENIED
    assert si.symlink("x", "/l") == SFTP_PERMISSION_DENIED
    assert si.chattr("/sub/file.txt", _mode(0o600)) == SFTP_PERMISSION_DENIED
    assert sorted(os.listdir(tree / "sub")) == ["deep-out", "file.txt"] and not (tree / "new").exists()


def test_a_fifo_never_blocks_the_server(tree: Path) -> None:
    os.mkfifo(tree / "fifo")
    assert read(interface(tree), "/fifo") == SFTP_PERMISSION_DENIED


def _mode(mode: int) -> SFTPAttributes:
    attr = SFTPAttributes()
    attr.st_mode = mode
    return attr
