"""Users inside a container: a name or uid (optionally :group) resolved against the rootfs' passwd and group."""

from __future__ import annotations

from pathlib import Path

from .. import paths


def resolve(rootfs: Path, user: str, group_add: list[str] | None = None) -> tuple[int, int, list[int]]:
    """uid, gid and extra groups for `user` (name or uid, optionally :group), read from the rootfs; the groups of
    `group_add` (--group-add: names or gids) join the extra ones."""
    name, _, group = (user or "0").partition(":")
    passwd = _table(rootfs, "/etc/passwd")
    groups = _table(rootfs, "/etc/group")
    if name.isdigit():
        uid = int(name)
        found = next((f for f in passwd if len(f) > 3 and f[2] == name), None)
        gid, login = (int(found[3]), found[0]) if found else (0, "")
    else:
        entry = next((f for f in passwd if f[0] == name and len(f) > 3), None)
        if entry is None:
            raise ValueError(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid, login = int(entry[2]), int(entry[3]), name
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            match = next((f for f in groups if f[0] == group and len(f) > 2), None)
            if match is None:
                raise ValueError(f"unable to find group {group}: no matching entries in group file")
            gid = int(match[2])
    extra = sorted({int(f[2]) for f in groups if len(f) > 3 and login and login in f[3].split(",")} - {gid})
    for added in group_add or []:
        number = _group_id(groups, added)
        if number not in extra:
            extra.append(number)
    return uid, gid, extra


def _group_id(groups: list[list[str]], group: str) -> int:
    """The gid of a --group-add entry: a number as it is, a name from the rootfs' group file."""
    if group.isdigit():
        return int(group)
    match = next((f for f in groups if f[0] == group and len(f) > 2 and f[2].isdigit()), None)
    if match is None:
        raise ValueError(f"Unable to find group {group}: no matching entries in group file")
    return int(match[2])


def _table(rootfs: Path, path: str) -> list[list[str]]:
    """The lines of a passwd or group file, split; read inside the rootfs (its symlinks never lead out)."""
    try:
        text = paths.read(rootfs, path).decode(errors="replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and line[0] != "#"]
