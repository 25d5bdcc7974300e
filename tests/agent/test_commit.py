"""`docker commit` (POST /commit) as dockerd does it: the container's changes as a layer over its image, the config
with --change lines applied and merged with the container's, history, events and tags."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def test_commit_keeps_changes_and_applies_cli_options(agent: Agent) -> None:
    script = "echo committed > /hello && rm /bin/vi && sleep 300"
    agent.docker("run", "-d", "--name", "to-commit", "-e", "KEEP=1", IMAGE, "sh", "-c", script)
    since = str(time.time())
    try:
        agent.docker("exec", "to-commit", "sh", "-c", "while [ ! -f /hello ]; do sleep 0.1; done")
        image_id = agent.docker(
            "commit",
            "-c",
            'CMD ["cat", "/hello"]',
            "-c",
            "ENV ADDED=$KEEP-x",
            "-m",
            "a message",
            "-a",
            "me",
            "to-commit",
            "committed:1",
        ).stdout.strip()
        assert image_id.startswith("sha256:")
        state = json.loads(agent.docker("inspect", "to-commit").stdout)[0]["State"]
        assert state["Running"] and not state["Paused"]  # paused while read, running again
        events = agent.docker(
            "events", "--since", since, "--until", str(time.time() + 1), "--format", "{{.Type}} {{.Action}}"
        ).stdout.splitlines()
        assert events[-4:] == ["container pause", "container unpause", "image tag", "container commit"]
    finally:
        agent.docker("rm", "-f", "to-commit")
    try:
        assert agent.docker("run", "--rm", "committed:1").stdout == "committed\n"
        assert agent.docker("run", "--rm", "committed:1", "ls", "/bin/vi", check=False).returncode != 0
        image: dict[str, Any] = json.loads(agent.docker("image", "inspect", "committed:1").stdout)[0]
        assert image["Id"] == image_id
        assert (image["Author"], image["Comment"]) == ("me", "a message")
        assert image["Config"]["Cmd"] == ["cat", "/hello"]
        assert {"KEEP=1", "ADDED=1-x"} <= set(image["Config"]["Env"])
        assert image["ContainerConfig"]["Cmd"] == ["sh", "-c", script]
        base = json.loads(agent.docker("image", "inspect", IMAGE).stdout)[0]
        assert image["Parent"] == base["Id"]
        assert image["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]
        history = agent.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "committed:1")
        assert history.stdout.splitlines()[0] == f"sh -c {script}|a message"
        changed = agent.docker("run", "--name", "on-committed", "committed:1", "true")
        assert changed.returncode == 0
        assert agent.docker("diff", "on-committed").stdout == ""  # the runtime's mount points are not committed
        agent.docker("rm", "on-committed")
    finally:
        agent.docker("rmi", "committed:1", check=False)


def test_commit_without_changes_and_bad_requests(agent: Agent) -> None:
    agent.docker("create", "--name", "untouched-commit", IMAGE, "true")
    try:
        image_id = agent.docker("commit", "untouched-commit").stdout.strip()
        image = json.loads(agent.docker("image", "inspect", image_id).stdout)[0]
        base = json.loads(agent.docker("image", "inspect", IMAGE).stdout)[0]
        assert image["RootFS"]["Layers"] == base["RootFS"]["Layers"]  # nothing written: an empty layer, left out
        assert image["RepoTags"] == []
        bad = agent.docker("commit", "-c", "RUN true", "untouched-commit", check=False)
        assert bad.returncode != 0 and "RUN is not supported" in bad.stderr
        bad = agent.docker("commit", "untouched-commit", "Bad:Name", check=False)
        assert bad.returncode != 0 and "invalid reference format" in bad.stderr
        missing = agent.docker("commit", "no-such-container", check=False)
        assert missing.returncode != 0 and "No such container" in missing.stderr
        agent.docker("rmi", image_id)
    finally:
        agent.docker("rm", "untouched-commit")


def test_commit_with_docker_py(agent: Agent, client: Any) -> None:
    container = client.containers.run(IMAGE, ["sh", "-c", "echo py > /py"], name="py-commit", detach=True)
    try:
        container.wait()
        image = container.commit(
            "py-committed",
            "2",
            message="from py",
            author="py",
            conf={"Labels": {"made": "by-py"}, "Cmd": ["cat", "/py"]},
        )
        assert image.tags == ["py-committed:2"]
        assert image.labels == {"made": "by-py"}
        assert client.containers.run("py-committed:2", remove=True) == b"py\n"
    finally:
        container.remove(force=True)
        client.images.remove("py-committed:2")
