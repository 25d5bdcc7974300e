"""GET /distribution/{name}/json (docker-py images.get_registry_data) against a real registry on loopback."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import docker
import pytest

from tests.support.agent import IMAGE, Agent
from tests.support.registry import Registry

pytestmark = pytest.mark.containers

LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def test_registry_data_of_a_manifest_an_index_and_missing_images(agent: Agent, registry: Registry, client: Any) -> None:
    repo = f"{registry.address}/dist/busybox"
    agent.docker("tag", IMAGE, f"{repo}:1")
    try:
        pushed = agent.docker("push", f"{repo}:1").stdout
        digest = pushed.split("digest: ")[1].split()[0]
        data = client.images.get_registry_data(f"{repo}:1")
        assert data.id == digest
        assert data.attrs["Descriptor"]["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
        assert data.attrs["Descriptor"]["size"] > 0
        assert data.attrs["Platforms"] == [{"architecture": "amd64", "os": "linux"}]
        assert data.has_platform("linux/amd64") and not data.has_platform("linux/arm64")
        assert client.images.get_registry_data(f"{repo}@{digest}").id == digest

        size = data.attrs["Descriptor"]["size"]
        index = {
            "schemaVersion": 2,
            "mediaType": LIST,
            "manifests": [
                {"mediaType": data.attrs["Descriptor"]["mediaType"], "digest": digest, "size": size, "platform": p}
                for p in (
                    {"architecture": "amd64", "os": "linux"},
                    {"architecture": "arm", "os": "linux", "variant": "v7"},
                )
            ],
        }
        put = urllib.request.Request(
            f"http://{repo.replace('/dist/', '/v2/dist/', 1)}/manifests/multi",
            data=json.dumps(index).encode(),
            method="PUT",
            headers={"Content-Type": LIST},
        )
        urllib.request.urlopen(put).close()
        listed = client.images.get_registry_data(f"{repo}:multi")
        assert listed.attrs["Descriptor"]["mediaType"] == LIST
        assert listed.attrs["Platforms"] == [
            {"architecture": "amd64", "os": "linux"},
            {"architecture": "arm", "os": "linux", "variant": "v7"},
        ]
        assert listed.has_platform("linux/arm/v7")

        with pytest.raises(docker.errors.NotFound, match="not found"):
            client.images.get_registry_data(f"{repo}:nope")
        with pytest.raises(docker.errors.APIError, match="cannot reach registry") as down:
            client.images.get_registry_data("127.0.0.1:1/x/y:1")
        assert down.value.status_code == 502
        with pytest.raises(docker.errors.APIError) as bad:
            client.images.get_registry_data("Bad Name")
        assert bad.value.status_code == 400
    finally:
        agent.docker("rmi", f"{repo}:1")
