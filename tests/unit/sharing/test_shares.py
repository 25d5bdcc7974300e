"""Share specs as users write them (LOCAL[:GUEST][:OPTIONS]), Windows drive paths, where a share may go, and how
long the machine trusts what it saw of one."""

from __future__ import annotations

from pathlib import Path

import pytest

from machine.sharing import mounts, shares
from machine.sharing.shares import Share, ShareError


def test_parse_defaults_to_the_same_path(tmp_path: Path) -> None:
    assert shares.parse(str(tmp_path)) == Share(str(tmp_path), str(tmp_path))
    assert shares.parse(f"{tmp_path}:/src") == Share(str(tmp_path), "/src")
    assert shares.parse(f"{tmp_path}:/src:ro") == Share(str(tmp_path), "/src", readonly=True)
    assert shares.parse(f"{tmp_path}:ro") == Share(str(tmp_path), str(tmp_path), readonly=True)
    assert shares.parse(f"{tmp_path}/:/src/:rw") == Share(str(tmp_path), "/src")
    assert shares.parse(f"{tmp_path}:/src:cached") == Share(str(tmp_path), "/src", cached=True)
    assert shares.parse(f"{tmp_path}:ro,cached") == Share(str(tmp_path), str(tmp_path), readonly=True, cached=True)
    cached = Share(str(tmp_path), "/src", readonly=True, cached=True)
    assert Share.from_json(cached.to_json()) == cached and str(cached).endswith("/src (read-only, cached)")
    assert Share.from_json({"local": str(tmp_path), "guest": "/src"}) == Share(str(tmp_path), "/src")  # older records


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("/no/such/folder", "not a folder"),
        ("{tmp}:src", "must be absolute"),
        ("{tmp}:/a:/b", "LOCAL[:GUEST][:OPTIONS]"),
        ("{tmp}:/a:ro,rw", "LOCAL[:GUEST][:OPTIONS]"),
        ("{tmp}:/a:ro,fast", "LOCAL[:GUEST][:OPTIONS]"),
        ("{tmp}:/", "system folders"),
        ("{tmp}:/etc/x", "system folders"),
        ("{tmp}:/root", "system folders"),
        ("{tmp}:/usr/../usr/local", "system folders"),
    ],
)
def test_parse_refuses(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(ShareError, match=message.replace("[", r"\[").replace("]", r"\]")):
        shares.parse(spec.format(tmp=tmp_path))


def test_windows_drives_appear_as_docker_machine_showed_them() -> None:
    assert shares.guest_path(r"C:\Users\me", windows=True) == "/c/Users/me"
    assert shares.guest_path("D:/work/app", windows=True) == "/d/work/app"


def test_add_replaces_the_same_place_and_refuses_overlaps(tmp_path: Path) -> None:
    first = Share(str(tmp_path), "/src")
    assert shares.add([first], Share(str(tmp_path), "/src", readonly=True)) == [Share(str(tmp_path), "/src", True)]
    with pytest.raises(ShareError, match="overlaps"):
        shares.add([first], Share(str(tmp_path), "/src/inner"))
    with pytest.raises(ShareError, match="overlaps"):
        shares.add([first], Share(str(tmp_path), "/"))
    assert len(shares.add([first], Share(str(tmp_path), "/src2"))) == 2


def test_root_s_home_is_never_shared_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/root")
    assert shares.default() == []
    monkeypatch.setenv("HOME", "/home/alice")
    assert shares.default() == [Share("/home/alice", "/home/alice")]


def test_a_cached_share_trusts_what_it_saw_for_20_s_and_a_fresh_one_for_1_s(tmp_path: Path) -> None:
    fresh = mounts.mount_command(Share(str(tmp_path), "/src"), sudo=False)
    cached = mounts.mount_command(Share(str(tmp_path), "/src", readonly=True, cached=True), sudo=True)
    assert f"-o {mounts.SSHFS_OPTIONS},{mounts.FRESH} :/ /src" in fresh and "attr_timeout=1," in mounts.FRESH
    assert f"-o {mounts.SSHFS_OPTIONS},{mounts.CACHED},ro :/ /src" in cached and "attr_timeout=20," in mounts.CACHED
    assert cached.startswith("sudo -n sh -c ") and not fresh.startswith("sudo")
