"""Answers dockerd gives that clients rely on: /info's counts and flags, `docker save` by ID, name or tag."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def saved_tags(agent: Agent, folder: Path, *refs: str) -> list[Any]:
    """The RepoTags of each manifest entry of `docker save REFS`."""
    archive = folder / "saved.tar"
    agent.docker("save", "-o", str(archive), *refs)
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        return [entry["RepoTags"] for entry in json.loads(member.read())]


def test_info_has_counts_and_flags(client: Any) -> None:
    info = client.info()
    assert info["Images"] >= 1 and isinstance(info["Containers"], int)
    assert info["Debug"] is True and info["ExperimentalBuild"] is False  # the test agent logs at debug level


def test_save_by_id_is_untagged_and_by_name_takes_every_tag(agent: Agent, tmp_path: Path) -> None:
    image_id = agent.docker("inspect", "-f", "{{.Id}}", IMAGE).stdout.strip()
    agent.docker("tag", IMAGE, "busybox:second")
    try:
        assert saved_tags(agent, tmp_path, image_id) == [None]
        assert saved_tags(agent, tmp_path, image_id[7:19]) == [None]
        assert saved_tags(agent, tmp_path, IMAGE) == [[IMAGE]]
        assert sorted(saved_tags(agent, tmp_path, "busybox")[0]) == ["busybox:second", IMAGE]
        assert saved_tags(agent, tmp_path, IMAGE, image_id) == [[IMAGE]]
    finally:
        agent.docker("rmi", "busybox:second")
