"""Dockerfile builds with the docker CLI (DOCKER_BUILDKIT=0) and docker-py, on the busybox test image."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers

MULTI_STAGE = f"""# escape=\\
ARG BASE={IMAGE}
FROM ${{BASE}} AS builder
ARG FLAVOUR=plain
WORKDIR /src
COPY app/ ./
RUN echo "built $FLAVOUR from $(cat hello.txt)" > /out.txt && \\
    echo step-output && ls /src > /listing.txt
FROM {IMAGE}
ENV GREETING="hi there" OTHER=x
COPY --from=builder /out.txt /listing.txt /result/
LABEL org.example.role=demo
EXPOSE 8080
CMD ["sh", "-c", "cat /result/out.txt; echo $GREETING"]
"""


@pytest.fixture
def context(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "hello.txt").write_text("world\n")
    (tmp_path / "app" / "debug.log").write_text("must not be copied\n")
    (tmp_path / ".dockerignore").write_text("**/*.log\n")
    (tmp_path / "Dockerfile").write_text(MULTI_STAGE)
    return tmp_path


def test_multi_stage_build_runs_and_caches(agent: Agent, context: Path) -> None:
    first = agent.docker(
        "build",
        "-t",
        "built:1",
        "-t",
        "built:alias",
        "--build-arg",
        "FLAVOUR=fancy",
        "--iidfile",
        str(context / "iid"),
        str(context),
    )
    assert "step-output" in first.stdout and "Successfully tagged built:1" in first.stdout
    image_id = (context / "iid").read_text().strip()
    assert json.loads(agent.docker("image", "inspect", "built:alias").stdout)[0]["Id"] == image_id
    assert agent.docker("run", "--rm", "built:1").stdout == "built fancy from world\nhi there\n"
    listing = agent.docker("run", "--rm", "built:1", "cat", "/result/listing.txt").stdout
    assert listing == "hello.txt\n"  # debug.log was excluded by .dockerignore
    info = json.loads(agent.docker("image", "inspect", "built:1").stdout)[0]["Config"]
    assert info["Labels"] == {"org.example.role": "demo"} and "8080/tcp" in info["ExposedPorts"]
    again = agent.docker("build", "-t", "built:1", "--build-arg", "FLAVOUR=fancy", str(context)).stdout
    assert again.count("Using cache") == 9 and "Running in" not in again
    (context / "app" / "hello.txt").write_text("changed\n")
    changed = agent.docker("build", "-t", "built:1", "--build-arg", "FLAVOUR=fancy", str(context)).stdout
    # ARG and WORKDIR before the COPY, and the second stage's ENV, hit the cache; the rest runs again
    assert changed.count("Using cache") == 3 and "Running in" in changed
    assert agent.docker("run", "--rm", "built:1").stdout == "built fancy from changed\nhi there\n"
    agent.docker("rmi", "built:1", "built:alias")


def test_target_quiet_and_no_cache(agent: Agent, context: Path) -> None:
    quiet = agent.docker("build", "-q", "--target", "builder", "--no-cache", str(context)).stdout.strip()
    assert quiet.startswith("sha256:") and len(quiet.splitlines()) == 1
    assert agent.docker("run", "--rm", quiet, "cat", "/out.txt").stdout == "built plain from world\n"
    agent.docker("rmi", quiet)


@pytest.mark.parametrize(
    "dockerfile, error",
    [
        ("FROM busybox:test\nRUN true\nBOGUS thing\n", "line 3: unknown instruction: BOGUS"),
        ("RUN true\n", "line 1: the first instruction must be FROM"),
        (f"FROM {IMAGE}\nCOPY missing.txt /\n", "missing.txt"),
        (f"FROM {IMAGE}\nRUN exit 7\n", "returned a non-zero code: 7"),
    ],
)
def test_broken_dockerfiles_say_what_and_where(agent: Agent, tmp_path: Path, dockerfile: str, error: str) -> None:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    result = agent.docker("build", str(tmp_path), check=False)
    assert result.returncode != 0 and error in result.stderr + result.stdout


def test_docker_py_build(client: object) -> None:
    dockerfile = f'FROM {IMAGE}\nRUN echo from-docker-py > /made\nCMD ["cat", "/made"]\n'
    image, logs = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag="pybuilt:1", rm=True)  # type: ignore[attr-defined]
    assert "pybuilt:1" in image.tags
    assert any("Successfully built" in entry.get("stream", "") for entry in logs)
    assert client.containers.run("pybuilt:1", remove=True) == b"from-docker-py\n"  # type: ignore[attr-defined]
    client.images.remove("pybuilt:1")  # type: ignore[attr-defined]


def test_onbuild_triggers_run_in_the_child_build(agent: Agent, tmp_path: Path) -> None:
    (tmp_path / "parent").mkdir()
    (tmp_path / "parent" / "Dockerfile").write_text(f"FROM {IMAGE}\nONBUILD RUN echo triggered > /trigger\n")
    agent.docker("build", "-t", "onbuild-parent:1", str(tmp_path / "parent"))
    (tmp_path / "child").mkdir()
    (tmp_path / "child" / "Dockerfile").write_text('FROM onbuild-parent:1\nCMD ["cat", "/trigger"]\n')
    output = agent.docker("build", "-t", "onbuild-child:1", str(tmp_path / "child")).stdout
    assert "Executing 1 build trigger" in output
    assert agent.docker("run", "--rm", "onbuild-child:1").stdout == "triggered\n"
    config = json.loads(agent.docker("image", "inspect", "onbuild-child:1").stdout)[0]["Config"]
    assert not config.get("OnBuild")  # triggers are not inherited by grandchildren
    agent.docker("rmi", "onbuild-child:1", "onbuild-parent:1")


def test_add_local_archive_and_url(agent: Agent, tmp_path: Path) -> None:
    import http.server
    import tarfile
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "remote.txt").write_text("from the web\n")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(served))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (tmp_path / "ctx").mkdir()
        (tmp_path / "ctx" / "inner.txt").write_text("unpacked\n")
        with tarfile.open(tmp_path / "ctx" / "bundle.tar.gz", "w:gz") as tar:
            tar.add(tmp_path / "ctx" / "inner.txt", "inner.txt")
        port = server.server_address[1]
        (tmp_path / "ctx" / "Dockerfile").write_text(
            f"FROM {IMAGE}\nADD bundle.tar.gz /unpacked/\nADD http://127.0.0.1:{port}/remote.txt /fetched/\n"
        )
        agent.docker("build", "-t", "adds:1", str(tmp_path / "ctx"))
        out = agent.docker("run", "--rm", "adds:1", "cat", "/unpacked/inner.txt", "/fetched/remote.txt").stdout
        assert out == "unpacked\nfrom the web\n"
        (served / "remote.txt").write_text("changed upstream\n")
        rebuilt = agent.docker("build", "-t", "adds:1", str(tmp_path / "ctx")).stdout
        assert rebuilt.count("Using cache") == 1  # the URL's new content misses the cache
        agent.docker("rmi", "adds:1")
    finally:
        server.shutdown()
