"""Images through the docker CLI and docker-py: load (both layouts), save, import, tag, rmi, history."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from machine.busybox import oci_image_tar, rootfs_tar
from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def test_loaded_image_is_listed_and_inspected(agent: Agent) -> None:
    rows = agent.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").stdout
    assert f"{IMAGE} " in rows
    info = json.loads(agent.docker("image", "inspect", IMAGE).stdout)[0]
    assert info["RepoTags"] == [IMAGE] and info["Config"]["Cmd"] == ["sh"] and len(info["RootFS"]["Layers"]) == 1


def test_oci_layout_load_runs(agent: Agent, tmp_path: Path) -> None:
    image_id = oci_image_tar(tmp_path / "oci.tar", "busybox:oci")
    assert "Loaded image: busybox:oci" in agent.docker("load", "-i", str(tmp_path / "oci.tar")).stdout
    assert json.loads(agent.docker("image", "inspect", "busybox:oci").stdout)[0]["Id"] == image_id
    assert agent.docker("run", "--rm", "busybox:oci", "echo", "oci").stdout == "oci\n"
    agent.docker("rmi", "busybox:oci")


def test_save_load_round_trip_keeps_the_id(agent: Agent, tmp_path: Path) -> None:
    image_id = json.loads(agent.docker("image", "inspect", IMAGE).stdout)[0]["Id"]
    agent.docker("tag", IMAGE, "copy:1")
    agent.docker("save", "-o", str(tmp_path / "saved.tar"), "copy:1")
    assert agent.docker("rmi", "copy:1").stdout.strip() == "Untagged: copy:1"
    agent.docker("load", "-i", str(tmp_path / "saved.tar"))
    assert json.loads(agent.docker("image", "inspect", "copy:1").stdout)[0]["Id"] == image_id
    agent.docker("rmi", "copy:1")
    with tarfile.open(tmp_path / "saved.tar") as tar:
        assert "manifest.json" in tar.getnames()


def test_import_history_and_rmi(agent: Agent, tmp_path: Path) -> None:
    (tmp_path / "rootfs.tar").write_bytes(rootfs_tar())
    agent.docker("import", "--change", 'CMD ["echo", "imported"]', str(tmp_path / "rootfs.tar"), "imported:1")
    assert agent.docker("run", "--rm", "imported:1").stdout == "imported\n"
    history = agent.docker("history", "--format", "{{.CreatedBy}}", "imported:1").stdout
    assert "import" in history
    assert "Deleted" in agent.docker("rmi", "imported:1").stdout
    missing = agent.docker("rmi", "imported:1", check=False)
    assert missing.returncode != 0 and "No such image" in missing.stderr


def test_corrupt_archives_are_refused_cleanly(agent: Agent, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar")
    result = agent.docker("load", "-i", str(bad), check=False)
    assert result.returncode != 0 and "tar" in result.stderr.lower()
    # a manifest whose layer does not match the config's diff ID
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        config = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
        add("c.json", config)
        add("l/layer.tar", rootfs_tar())
        add(
            "manifest.json",
            json.dumps([{"Config": "c.json", "RepoTags": ["broken:1"], "Layers": ["l/layer.tar"]}]).encode(),
        )
    (tmp_path / "mismatch.tar").write_bytes(buf.getvalue())
    result = agent.docker("load", "-i", str(tmp_path / "mismatch.tar"), check=False)
    assert result.returncode != 0 and "does not match" in result.stderr
    assert "broken" not in agent.docker("images").stdout


def test_docker_py_images(client: object) -> None:
    image = client.images.get(IMAGE)  # type: ignore[attr-defined]
    assert IMAGE in image.tags
    image.tag("pytag", "v1")
    assert "pytag:v1" in client.images.get("pytag:v1").tags  # type: ignore[attr-defined]
    client.images.remove("pytag:v1")  # type: ignore[attr-defined]
    data = b"".join(image.save())
    assert data[:512].strip(b"\0")
