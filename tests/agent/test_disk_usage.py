"""`docker system df` (GET /system/df) as dockerd answers it: every size computed from what is there."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.agent import IMAGE, Agent
from tests.support.http import call

pytestmark = pytest.mark.containers

MB = 1024 * 1024


def test_df_counts_what_was_created(agent: Agent, client: Any) -> None:
    agent.docker("volume", "create", "df-vol")
    agent.docker(
        "run",
        "--name",
        "df-writer",
        "-v",
        "df-vol:/data",
        IMAGE,
        "sh",
        "-c",
        "head -c 3145728 /dev/zero > /three && head -c 2097152 /dev/zero > /data/two",
    )
    try:
        df = client.df()
        writer = next(c for c in df["Containers"] if c["Names"] == ["/df-writer"])
        assert writer["SizeRw"] >= 3 * MB
        assert writer["SizeRootFs"] >= writer["SizeRw"] + client.images.get(IMAGE).attrs["Size"]
        volume = next(v for v in df["Volumes"] if v["Name"] == "df-vol")
        assert volume["UsageData"] == {"Size": 2 * MB, "RefCount": 1}
        listed = {i["Id"]: i for i in json.loads(call(agent.socket, "GET", "/images/json").body)}
        assert {i["Id"]: i["Size"] for i in df["Images"]} == {i: row["Size"] for i, row in listed.items()}
        base = next(i for i in df["Images"] if i["Id"] == client.images.get(IMAGE).id)
        assert base["Containers"] >= 1 and base["SharedSize"] >= 0
        assert df["LayersSize"] >= max(i["Size"] for i in df["Images"])
        assert df["BuildCache"] is not None

        only = json.loads(call(agent.socket, "GET", "/v1.45/system/df?type=volume").body)
        assert only["Images"] is None and only["Containers"] is None and only["LayersSize"] == 0
        assert [v["Name"] for v in only["Volumes"]] == [v["Name"] for v in df["Volumes"]]
        bad = call(agent.socket, "GET", "/v1.45/system/df?type=nothing")
        assert bad.status == 400 and b"unknown object type" in bad.body

        text = agent.docker("system", "df", "--format", "{{.Type}} {{.TotalCount}}").stdout.splitlines()
        counts = dict(line.rsplit(" ", 1) for line in text)
        assert counts["Images"] == str(len(agent.docker("images", "-q").stdout.split()))
        assert counts["Local Volumes"] == str(len(agent.docker("volume", "ls", "-q").stdout.split()))
        verbose = agent.docker("system", "df", "-v").stdout
        assert "df-writer" in verbose and "df-vol" in verbose
    finally:
        agent.docker("rm", "-f", "df-writer")
        agent.docker("volume", "rm", "df-vol")


def test_df_shared_layers_and_build_cache(agent: Agent, client: Any, tmp_path: Any) -> None:
    (tmp_path / "Dockerfile").write_text(f'FROM {IMAGE}\nRUN head -c 1048576 /dev/zero > /one\nCMD ["true"]\n')
    agent.docker("build", "-t", "df-built:1", str(tmp_path))
    try:
        df = client.df()
        built = next(i for i in df["Images"] if i["RepoTags"] == ["df-built:1"])
        base = next(i for i in df["Images"] if i["Id"] == client.images.get(IMAGE).id)
        assert built["SharedSize"] >= base["Size"]  # the base layers are the busybox image's
        assert built["Size"] - built["SharedSize"] >= 0
        steps = {row["Description"]: row for row in df["BuildCache"]}
        run = next(row for d, row in steps.items() if "head -c 1048576" in d)
        assert run["Size"] >= MB and run["Shared"] is True  # the tagged image keeps it
    finally:
        agent.docker("rmi", "df-built:1")
        agent.docker("builder", "prune", "-f")
