"""Directory depth: trees far deeper than Python's recursion limit and longer than PATH_MAX, in `docker load`, in a
container and its volume (`docker cp`, `ps -s`, `rm -f`, `volume rm`), and left over in the state root for the next
start-up, which also meets records that are not what the agent wrote."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from guest import paths
from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers

NAME = "dddddddd"  # 1,200 of them make a path of 10,800 characters


def _deep_tar(depth: int, top: str = "d") -> bytes:
    """A tar of `depth` nested folders `top/d/d/...` with a file `bottom` at the bottom."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for level in range(1, depth + 1):
            info = tarfile.TarInfo("/".join([top] + ["d"] * (level - 1)))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("/".join([top] + ["d"] * (depth - 1) + ["bottom"]))
        info.size = 4
        tar.addfile(info, io.BytesIO(b"deep"))
    return buf.getvalue()


def _image_archive(layer: bytes, tag: str) -> bytes:
    """A `docker save` archive of one image made of `layer`."""
    import hashlib

    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    files = {
        "config.json": json.dumps(config).encode(),
        "layer.tar": layer,
        "manifest.json": json.dumps([{"Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]}]).encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _plant_deep(folder: Path, depth: int) -> None:
    """`depth` nested folders in `folder` (made through fds: the path is longer than PATH_MAX)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with paths.Dirs(fd) as dirs:
            dirs.fd([NAME] * depth, create=True)
    finally:
        os.close(fd)


def test_load_of_a_3000_level_tar_is_a_400_and_leaves_no_temp_folder(agent: Agent, tmp_path: Path) -> None:
    archive = tmp_path / "deep.tar"
    archive.write_bytes(_deep_tar(3000))
    result = agent.docker("load", "-i", str(archive), check=False, timeout=300)
    assert result.returncode != 0
    assert "not an image archive: it has neither manifest.json nor index.json" in result.stderr
    assert "500" not in result.stderr and "Internal Server Error" not in result.stderr
    assert os.listdir(agent.root / "images" / "tmp") == []
    assert agent.docker("version", "--format", "{{.Server.Version}}").stdout.strip()


def test_an_image_with_a_3000_level_layer_loads_runs_and_goes(agent: Agent, tmp_path: Path) -> None:
    archive = tmp_path / "deep-image.tar"
    archive.write_bytes(_image_archive(_deep_tar(3000), "deep:1"))
    layers_before = set(os.listdir(agent.root / "images" / "layers"))
    (tmp_path / "Dockerfile").write_text(f"FROM {IMAGE}\nCOPY --from=deep:1 /d /d\n")  # and a shell to look
    try:
        agent.docker("load", "-i", str(archive), timeout=300)
        agent.docker("build", "-t", "deep:2", str(tmp_path), timeout=300)
        agent.docker("create", "--name", "deep-look", "deep:2", "true")
        assert _copied(agent, "deep-look:/d")[-1] == ("/".join(["d"] * 3000 + ["bottom"]), b"deep")
    finally:
        agent.docker("rm", "deep-look", check=False)
        agent.docker("rmi", "deep:1", "deep:2", check=False, timeout=120)
    assert set(os.listdir(agent.root / "images" / "layers")) == layers_before  # its layer deleted
    assert os.listdir(agent.root / "images" / "tmp") == []


def test_a_container_with_1200_nested_folders_can_be_copied_from_and_removed(fresh_agent: Agent) -> None:
    agent = fresh_agent
    # each round wraps the tree in one more folder: no path the shell sees is longer than PATH_MAX
    wrap = f"mkdir t; mv {NAME} t/; mv t {NAME}"
    nest = f"mkdir {NAME}; echo deep > {NAME}/bottom; i=1; while [ $i -lt 1200 ]; do {wrap}; i=$((i+1)); done"
    make = f"for top in /deep /vol; do cd $top; {nest}; done"
    agent.docker("run", "--name", "deep", "-v", "deepvol:/vol", IMAGE, "sh", "-c", f"mkdir /deep; {make}", timeout=180)
    cid = agent.docker("inspect", "-f", "{{.Id}}", "deep").stdout.strip()

    members = _copied(agent, "deep:/deep")
    assert len(members) == 1 + 1200 + 1 and members[-1] == ("/".join(["deep"] + [NAME] * 1200 + ["bottom"]), b"deep\n")

    sizes = agent.docker("ps", "-a", "-s", "--format", "{{.Size}}", timeout=120).stdout
    assert "B" in sizes  # the upper folder's size, counted at any depth

    agent.docker("rm", "-f", "deep", timeout=180)
    assert "deep" not in agent.docker("ps", "-a", "--format", "{{.Names}}").stdout
    assert os.listdir(agent.root / "containers") == []  # the folder gone, no leftover either
    agent.docker("volume", "rm", "deepvol", timeout=180)
    assert not (agent.root / "volumes" / "deepvol").exists()

    agent.kill()
    agent.start()
    assert agent.docker("ps", "-aq").stdout == "" and cid not in os.listdir(agent.root / "containers")


def test_start_up_sweeps_leftovers_and_skips_bad_records(fresh_agent: Agent) -> None:
    agent = fresh_agent
    agent.docker("create", "--name", "keep", IMAGE, "true")
    kept = json.loads((agent.root / "containers").joinpath(_only_container(agent), "container.json").read_text())
    agent.kill()

    root = agent.root
    _plant_deep(root / "images" / "tmp" / "load-cut-short", 3000)
    build_mount = root / "images" / "tmp" / "build-x" / "mounts" / "abc"
    build_mount.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "leftover", str(build_mount)], check=True)
    _plant_deep(root / "containers" / (".removed-" + "e" * 64), 1500)
    _plant_deep(root / "runtime" / "exec-cut", 3)
    bad = {
        "a" * 64: "[]",
        "b" * 64: "{not json",
        "c" * 64: json.dumps({**kept, "Id": "c" * 64, "State": "running"}),
        "d" * 64: json.dumps({**kept, "Id": "../../" + "d" * 58}),
        "f" * 64: json.dumps(  # a shape that loads but fails in recovery: a restart policy that is a string
            {
                **kept,
                "Id": "f" * 64,
                "Name": "/broken",
                "State": {**kept["State"], "Status": "running", "Running": True},
                "HostConfig": {**kept["HostConfig"], "RestartPolicy": "always"},
            }
        ),
    }
    for cid, text in bad.items():
        (root / "containers" / cid).mkdir()
        (root / "containers" / cid / "container.json").write_text(text)
    (root / "networks" / "bad.json").write_text("[]")
    (root / "networks" / "worse.json").write_text('{"Id": 5, "Name": ["x"]}')
    (root / "images" / "parents.json").write_text("[1]")

    agent.start()
    names = agent.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert sorted(names) == ["broken", "keep"]
    assert {"bridge", "host", "none"} <= set(agent.docker("network", "ls", "--format", "{{.Name}}").stdout.split())
    assert IMAGE in agent.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert os.listdir(root / "images" / "tmp") == [] and not os.path.ismount(build_mount)
    assert not [n for n in os.listdir(root / "containers") if n.startswith(".removed-")]
    assert not list((root / "runtime").glob("exec-*"))
    log = agent.log.read_text()
    for cid in ("a" * 64, "b" * 64, "c" * 64, "d" * 64):
        assert f"ignoring {root / 'containers' / cid}" in log
    assert "container ffffffffffff could not be recovered" in log
    agent.docker("rm", "-f", "broken")


def _copied(agent: Agent, source: str) -> list[tuple[str, bytes]]:
    """`docker cp SOURCE -`: (name, content) of each member of the tar it writes, in order."""
    copied = subprocess.run(["docker", "cp", source, "-"], env=agent.env, capture_output=True, timeout=180)
    assert copied.returncode == 0, copied.stderr
    with tarfile.open(fileobj=io.BytesIO(copied.stdout)) as tar:
        return [(m.name, (tar.extractfile(m) or io.BytesIO()).read() if m.isfile() else b"") for m in tar]


def _only_container(agent: Agent) -> str:
    (found,) = os.listdir(agent.root / "containers")
    return found


def test_a_build_context_1500_levels_deep_is_copied_and_cleaned_up(agent: Agent, client: object) -> None:
    context = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(_deep_tar(1500, "ctx"))) as deep,
        tarfile.open(fileobj=context, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        dockerfile = f"FROM {IMAGE}\nCOPY ctx /ctx\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        for member in deep:
            tar.addfile(member, deep.extractfile(member) if member.isfile() else None)
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag="deep-ctx:1")  # type: ignore[attr-defined]
    try:
        agent.docker("create", "--name", "deep-ctx", "deep-ctx:1", "true")
        assert _copied(agent, "deep-ctx:/ctx")[-1] == ("/".join(["ctx"] + ["d"] * 1499 + ["bottom"]), b"deep")
    finally:
        agent.docker("rm", "deep-ctx", check=False)
        agent.docker("rmi", "deep-ctx:1", check=False, timeout=120)
    assert os.listdir(agent.root / "images" / "tmp") == []
