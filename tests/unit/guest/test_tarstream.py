"""Tars made as streams (docker save, docker cp, build layers): the bytes tarfile would write, never a whole file in
memory."""

from __future__ import annotations

import io
import os
import tarfile
import tracemalloc
from pathlib import Path

from guest.images.tarstream import layer_from_upper, tar_paths


def _tree(root: Path) -> Path:
    (root / "dir" / ("long-" * 30)).mkdir(parents=True)
    (root / "dir" / "file").write_bytes(b"content" * 1000)
    (root / "dir" / "empty").write_bytes(b"")
    os.link(root / "dir" / "file", root / "dir" / "hardlink")
    (root / "dir" / "link").symlink_to("file")
    (root / "dir" / ("long-" * 30) / ("name-" * 40)).write_bytes(b"x" * 513)
    return root / "dir"


def _members(data: bytes) -> list[tuple[str, bytes, int, str, int, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [
            (m.name, m.type, m.mode, m.linkname, m.size, tar.extractfile(m).read() if m.isreg() else b"")  # type: ignore[union-attr]
            for m in tar.getmembers()
        ]


def test_a_tree_streams_as_tarfile_reads_it(tmp_path: Path) -> None:
    """The stream holds what tarfile would write of the tree: names (long ones in PAX headers), kinds, modes, link
    targets, hard links as links, contents."""
    tree = _tree(tmp_path)
    expected = io.BytesIO()
    with tarfile.open(fileobj=expected, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(str(tree), "dir")
    made = b"".join(tar_paths([(tree, "dir")]))
    assert sorted(_members(made)) == sorted(_members(expected.getvalue()))
    assert len(made) % tarfile.BLOCKSIZE == 0 and made.endswith(bytes(2 * tarfile.BLOCKSIZE))
    with tarfile.open(fileobj=io.BytesIO(made)) as tar:
        assert tar.getmember("dir/hardlink").islnk() and tar.getmember("dir/link").issym()


def test_a_large_file_is_never_held_whole(tmp_path: Path) -> None:
    big = tmp_path / "upper" / "big"
    big.parent.mkdir()
    with open(big, "wb") as f:
        f.truncate(64 << 20)
    for stream in (tar_paths([(big, "big")]), layer_from_upper(big.parent)):
        tracemalloc.start()
        try:
            total, largest = 0, 0
            for chunk in stream:
                total, largest = total + len(chunk), max(largest, len(chunk))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert total > 64 << 20 and largest <= 2 << 20 and peak < 8 << 20
