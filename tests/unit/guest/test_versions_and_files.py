"""API versions in paths, and the agent's state files: written whole, and weighed as Docker weighs them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from guest import paths
from guest.api.http import versions
from guest.api.http.errors import HttpError
from guest.files import disk_usage, write_json


def test_split_versioned_and_plain_paths() -> None:
    assert versions.split("/v1.45/containers/json") == ("1.45", "/containers/json")
    assert versions.split("/containers/json") == (None, "/containers/json")
    assert versions.split("/v1/x") == (None, "/v1/x")


@pytest.mark.parametrize("version, accepted", [("1.24", True), ("1.45", True), ("1.23", False), ("1.46", False)])
def test_check_accepts_the_supported_range(version: str, accepted: bool) -> None:
    if accepted:
        versions.check(version)
    else:
        with pytest.raises(HttpError) as caught:
            versions.check(version)
        assert caught.value.status == 400 and "too " in caught.value.message


def test_write_json_replaces_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "container.json"
    target.write_text("old")
    write_json(target, {"Id": "x"}, indent=1)
    assert json.loads(target.read_text()) == {"Id": "x"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["container.json"]


def test_disk_usage_counts_files_once_and_not_folders(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one").write_bytes(b"x" * 1000)
    (tmp_path / "a" / "b" / "two").write_bytes(b"y" * 24)
    os.link(tmp_path / "a" / "one", tmp_path / "hardlink")
    os.symlink("a/one", tmp_path / "symlink")
    assert disk_usage(tmp_path) == 1000 + 24 + len("a/one")
    assert disk_usage(tmp_path / "missing") == 0


def test_disk_usage_weighs_a_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with paths.Dirs(fd) as dirs:
            bottom = dirs.fd(["d" * 40] * 1500, create=True)  # a path of 61,500 characters
            os.write(out := os.open("f", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=bottom), b"z" * 7)
            os.close(out)
    finally:
        os.close(fd)
    try:
        assert disk_usage(tmp_path) == 7
    finally:
        paths.rmtree(tmp_path / ("d" * 40))  # pytest's own clean-up of old tmp folders recurses: it would fail on it
