"""Numbers the agent reports, checked against what is really there: /info's counts, container sizes, docker top's
processes with ps_args, and the bytes that prunes reclaim."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers

MIB = 1 << 20


@pytest.fixture
def api(fresh_agent: Agent) -> Iterator[docker.APIClient]:
    """docker-py's low-level client on an agent of the test's own (prunes and counts see only this test's work)."""
    client = docker.APIClient(base_url=f"unix://{fresh_agent.socket}", version="auto")
    try:
        yield client
    finally:
        client.close()


def _sizes(agent: Agent, name: str) -> tuple[int, int]:
    info = json.loads(agent.docker("inspect", "--size", name).stdout)[0]
    return info["SizeRw"], info["SizeRootFs"]


def _image_size(agent: Agent, ref: str) -> int:
    return int(json.loads(agent.docker("image", "inspect", ref).stdout)[0]["Size"])


def test_info_counts_images_and_containers_by_state(fresh_agent: Agent, api: docker.APIClient) -> None:
    agent = fresh_agent
    agent.docker("run", "-d", "--name", "running", IMAGE, "sleep", "60")
    agent.docker("run", "-d", "--name", "paused", IMAGE, "sleep", "60")
    agent.docker("pause", "paused")
    agent.docker("create", "--name", "created", IMAGE, "true")
    agent.docker("run", "--name", "exited", IMAGE, "true")
    agent.docker("tag", IMAGE, "second:name")  # one image under two names
    info = api.info()
    assert info["Images"] == len(set(agent.docker("images", "-aq").stdout.split())) == 1
    counts = [info[key] for key in ("Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped")]
    assert counts == [4, 1, 1, 2]
    agent.docker("unpause", "paused")
    agent.docker("rm", "-f", "running", "paused", "created", "exited")
    after = api.info()
    assert (after["Containers"], after["ContainersRunning"], after["ContainersStopped"]) == (0, 0, 0)


def test_size_rw_is_what_the_container_wrote(agent: Agent) -> None:
    agent.docker("run", "--name", "writer", IMAGE, "sh", "-c", "head -c 1048576 /dev/zero > /written")
    try:
        size_rw, size_rootfs = _sizes(agent, "writer")
        assert MIB <= size_rw < MIB + 64 * 1024  # the file, and at most a few small entries the runtime made
        assert size_rootfs == _image_size(agent, IMAGE) + size_rw
        rows = agent.docker("ps", "-a", "--size", "--filter", "name=writer", "--format", "{{.Size}}").stdout
        assert rows.startswith("1.05MB")  # docker ps -s shows SizeRw (and the virtual size) from the same numbers
        assert "SizeRw" not in json.loads(agent.docker("inspect", "writer").stdout)[0]  # only when asked for
    finally:
        agent.docker("rm", "writer")


def test_top_runs_ps_with_the_clients_arguments(agent: Agent, client: docker.DockerClient) -> None:
    agent.docker("run", "-d", "--name", "topped", IMAGE, "sleep", "60")
    try:
        pid = json.loads(agent.docker("inspect", "topped").stdout)[0]["State"]["Pid"]
        top = client.api.top("topped", ps_args="-o pid,comm")
        assert top == {"Titles": ["PID", "COMMAND"], "Processes": [[str(pid), "sleep"]]}
        default = agent.docker("top", "topped").stdout.splitlines()
        assert default[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        assert len(default) == 2 and default[1].split()[1] == str(pid) and default[1].endswith("sleep 60")
        bad = agent.docker("top", "topped", "--no-such-option", check=False)
        assert bad.returncode != 0 and "ps --no-such-option" in bad.stderr
    finally:
        agent.docker("rm", "-f", "topped")


def test_container_prune_reclaims_what_the_containers_wrote(fresh_agent: Agent, api: docker.APIClient) -> None:
    agent = fresh_agent
    agent.docker("run", "--name", "big", IMAGE, "sh", "-c", "head -c 2097152 /dev/zero > /big")
    agent.docker("run", "--name", "small", IMAGE, "sh", "-c", "echo hello > /small")
    alive = agent.docker("run", "-d", "--name", "alive", IMAGE, "sleep", "60").stdout.strip()
    stopped = {agent.docker("inspect", "-f", "{{.Id}}", name).stdout.strip() for name in ("big", "small")}
    written = _sizes(agent, "big")[0] + _sizes(agent, "small")[0]
    result = api.prune_containers()
    assert set(result["ContainersDeleted"]) == stopped
    assert result["SpaceReclaimed"] == written and written >= 2 * MIB
    assert agent.docker("ps", "-aq", "--no-trunc").stdout.split() == [alive]
    agent.docker("rm", "-f", "alive")


def _unique_layer_tar(path: Path, size: int) -> None:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("random.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))


def test_image_prune_reclaims_the_layers_of_the_deleted_images(
    fresh_agent: Agent, api: docker.APIClient, tmp_path: Path
) -> None:
    agent = fresh_agent
    _unique_layer_tar(tmp_path / "layer.tar", 300 * 1024)
    image_id = agent.docker("import", str(tmp_path / "layer.tar")).stdout.strip()  # untagged: dangling
    size = _image_size(agent, image_id)
    assert size >= 300 * 1024
    result = api.prune_images()
    assert result["ImagesDeleted"] == [{"Deleted": image_id}]
    assert result["SpaceReclaimed"] == size
    assert agent.docker("image", "inspect", IMAGE).returncode == 0  # tagged images stay
    assert api.prune_images()["SpaceReclaimed"] == 0


def test_volume_prune_reclaims_the_volumes_data(fresh_agent: Agent, api: docker.APIClient) -> None:
    agent = fresh_agent
    agent.docker("run", "--rm", "-v", "filled:/data", IMAGE, "sh", "-c", "head -c 204800 /dev/zero > /data/f")
    agent.docker("run", "--rm", "-v", "kept:/data", IMAGE, "true")
    agent.docker("run", "-d", "--name", "holder", "-v", "kept:/data", IMAGE, "sleep", "60")
    try:
        result = api.prune_volumes(filters={"all": "true"})
        assert result == {"VolumesDeleted": ["filled"], "SpaceReclaimed": 204800}
    finally:
        agent.docker("rm", "-f", "holder")


def test_build_cache_prune_reclaims_the_steps_of_replaced_builds(
    fresh_agent: Agent, api: docker.APIClient, tmp_path: Path
) -> None:
    agent = fresh_agent
    (tmp_path / "Dockerfile").write_text(
        f'FROM {IMAGE}\nRUN head -c 307200 /dev/urandom > /f\nCMD ["wc", "-c", "/f"]\n'
    )
    agent.docker("build", "-t", "cached:1", str(tmp_path))
    agent.docker("build", "--no-cache", "-t", "cached:1", str(tmp_path))  # the first build's steps are left over
    before = len(agent.docker("images", "-aq").stdout.split())
    result = api.prune_builds()
    assert result["SpaceReclaimed"] >= 307200 and len(result["CachesDeleted"]) == 2  # the old RUN and CMD steps
    assert len(agent.docker("images", "-aq").stdout.split()) == before - 2
    assert agent.docker("run", "--rm", "cached:1").stdout.strip() == "307200 /f"  # the current build is untouched
    again = api.prune_builds()
    assert again["SpaceReclaimed"] == 0 and not again["CachesDeleted"]
