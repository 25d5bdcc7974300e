"""Rotating a capped log as dockerd does: `ctr.log` is the current file, `ctr.log.1` the one before, up to
`ctr.log.<max-file - 1>`; older ones are dropped.

conmon caps the file itself (--log-size-max): when the next line would pass the cap, it opens `ctr.log.tmp`
(truncating it, creating it if missing) and renames it over `ctr.log`. The file it leaves would be lost, so the
agent keeps a second name on each file conmon writes: `ctr.log.live` on the current one, and it makes
`ctr.log.tmp` beforehand with a second name, `ctr.log.next`, so conmon's next file is named too. Every tick, files
conmon left are renamed into `ctr.log.1` (the older ones shifting up). A container writing more than two files'
worth between two ticks (or while the agent is down) loses the files in between; the size on disk stays capped."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO

_lock = threading.Lock()  # renames and readers' openings do not interleave


def _names(path: Path) -> tuple[Path, Path, Path]:
    """(live, next, tmp) names of the log at `path`."""
    return path.with_name(path.name + ".live"), path.with_name(path.name + ".next"), path.with_name(path.name + ".tmp")


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def prepare(path: Path, files: int) -> None:
    """Before conmon starts: the log left by an earlier run is rotated (conmon counts its cap from its start), and
    conmon's next file is made ready."""
    with _lock:
        _settle(path, files)
        if path.exists() and path.stat().st_size:
            _retire(path, path, files)
        _arrange(path)


def tick(path: Path, files: int) -> None:
    """Rotate what conmon left since the last tick; keep its next file named."""
    with _lock:
        current = _inode(path)
        if current is None:
            return
        live, following, tmp = _names(path)
        live_ino, next_ino, tmp_ino = _inode(live), _inode(following), _inode(tmp)
        taken = next_ino is not None and next_ino != tmp_ino  # conmon made the prepared file its log
        if taken and next_ino == live_ino:  # named live already (a tick saw it current)
            following.unlink()
            taken = False
        if live_ino != current:
            if live_ino is not None:
                _retire(path, live, files)
            if taken and next_ino == current:
                os.replace(following, live)
            elif taken:
                _retire_or_drop(path, following, files)
            if not live.exists():
                _link(path, live)
        elif taken:
            _retire_or_drop(path, following, files)
        _arrange(path)


def settle(path: Path, files: int) -> None:
    """After conmon's end: the files it left rotated, and the agent's extra names removed."""
    with _lock:
        _settle(path, files)


def _settle(path: Path, files: int) -> None:
    live, following, tmp = _names(path)
    current, live_ino, next_ino, tmp_ino = _inode(path), _inode(live), _inode(following), _inode(tmp)
    if live_ino is not None and live_ino != current:
        _retire(path, live, files)
    if next_ino is not None and next_ino not in (tmp_ino, current, live_ino):
        _retire_or_drop(path, following, files)
    for name in (live, following):
        name.unlink(missing_ok=True)
    if tmp_ino is not None and tmp_ino == next_ino:
        tmp.unlink(missing_ok=True)


def _arrange(path: Path) -> None:
    """conmon's next file, made beforehand under a second name."""
    _, following, tmp = _names(path)
    if not following.exists():
        os.close(os.open(following, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    if not tmp.exists():
        _link(following, tmp)  # conmon may be making its own right now: then it keeps it


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except (FileExistsError, FileNotFoundError):
        pass


def _retire_or_drop(log: Path, path: Path, files: int) -> None:
    """A file conmon took and left: rotated, or dropped when it is empty (it never wrote to it)."""
    if path.stat().st_size:
        _retire(log, path, files)
    else:
        path.unlink()


def _retire(log: Path, path: Path, files: int) -> None:
    """`path` (a name of a file of `log`) becomes `<log>.1`, the older files shifting up and the oldest dropped
    past `files`."""
    for index in range(files - 1, 0, -1):
        older = log.with_name(f"{log.name}.{index}")
        if not older.exists():
            continue
        if index + 1 < files:
            os.replace(older, log.with_name(f"{log.name}.{index + 1}"))
        else:
            older.unlink()
    if files > 1:
        os.replace(path, log.with_name(f"{log.name}.1"))
    else:
        path.unlink()


def opened(path: Path) -> list[BinaryIO]:
    """The log's files, oldest first and open (renames cannot make a reader miss one); the current one last."""
    live, following, tmp = _names(path)
    with _lock:
        rotated = sorted(
            (p for p in path.parent.glob(path.name + ".*") if p.name[len(path.name) + 1 :].isdigit()),
            key=lambda p: -int(p.name[len(path.name) + 1 :]),
        )
        taken = _inode(following) != _inode(tmp)
        candidates = [*rotated, live, *([following] if taken else []), path]
        found: dict[int, BinaryIO] = {}
        for name in candidates:
            try:
                f = open(name, "rb")  # noqa: SIM115 (the caller closes them)
            except FileNotFoundError:
                continue
            inode = os.fstat(f.fileno()).st_ino
            if inode in found:  # a second name: the later place is the file's (the current one last)
                found.pop(inode).close()
            found[inode] = f
    return list(found.values())


def replaced(path: Path, f: BinaryIO) -> bool:
    """Whether `f` is no longer the current file (conmon moved on to a new one, having written all of it)."""
    current = _inode(path)
    return current is not None and current != os.fstat(f.fileno()).st_ino
