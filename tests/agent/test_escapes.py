"""Host files are never reachable: hostile build contexts, Dockerfiles, images, layers, `docker cp` paths and names,
through the docker CLI (DOCKER_BUILDKIT=0), docker-py and raw requests. A canary folder outside the agent's state
root (a secret and a meta.json, as a volume has) must never be read, written or deleted, and neither the host's
/etc/shadow nor its SSH host keys may appear in an image, a container or a download."""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from guest.containers.runtime import choose
from tests.support.agent import IMAGE, Agent, serving
from tests.unit.guest.test_tarsafe import tar_of

pytestmark = pytest.mark.containers

SECRET = "canary-" + os.urandom(8).hex()
HOST_SECRETS = [p for p in (Path("/etc/shadow"), Path("/etc/ssh/ssh_host_ed25519_key")) if p.exists()]


@pytest.fixture
def canary(agent: Agent) -> Iterator[Path]:
    """A folder beside the agent's state root (what `../..` from its volumes would reach), that nothing may touch."""
    folder = agent.root.parent / "canary"
    (folder / "data").mkdir(parents=True)
    (folder / "secret").write_text(SECRET)
    (folder / "data" / "secret").write_text(SECRET)
    (folder / "meta.json").write_text("{}")
    before = _listing(folder)
    try:
        yield folder
        assert _listing(folder) == before, "the canary folder was changed"
    finally:
        shutil.rmtree(folder)


def _listing(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() if p.is_file() else "" for p in sorted(folder.rglob("*"))}


def _leaks(data: bytes | str) -> list[str]:
    """Which secrets `data` holds: the canary's, the host's shadow file or its SSH host key."""
    text = data if isinstance(data, str) else data.decode(errors="replace")
    found = [SECRET] if SECRET in text else []
    return found + [str(p) for p in HOST_SECRETS if p.read_text().strip() and p.read_text().strip() in text]


def _build(agent: Agent, context: Path, dockerfile: str, tag: str = "escape:1") -> subprocess.CompletedProcess[str]:
    (context / "Dockerfile").write_text(dockerfile)
    return agent.docker("build", "-t", tag, str(context), check=False, timeout=120)


def _image_files(agent: Agent, image: str, *paths: str) -> str:
    """The content of files in an image (what a container of it sees), for leak checks."""
    return agent.docker("run", "--rm", image, "sh", "-c", f"cat {' '.join(paths)} 2>/dev/null; true").stdout


def _request(agent: Agent, method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
    """A raw API request on the agent's socket: (status, the error message or the body)."""
    conn = http.client.HTTPConnection("agent", timeout=60)
    conn.sock = socket.socket(socket.AF_UNIX)
    conn.sock.connect(str(agent.socket))
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        try:
            return response.status, str(json.loads(text)["message"])
        except (ValueError, KeyError, TypeError):
            return response.status, text
    finally:
        conn.close()


# -- 1. build context symlinks ----------------------------------------------------------------------


@pytest.fixture
def hostile_context(tmp_path: Path, canary: Path) -> Path:
    """A build context full of symlinks out of it (to /etc, the canary, up a `..` chain, to /etc/shadow)."""
    context = tmp_path / "context"
    context.mkdir()
    with tarfile.open(tmp_path / "host.tar", "w") as tar:  # a host file that ADD would unpack
        tar.add(canary / "secret", "secret")
    (context / "etcl").symlink_to("/etc")
    (context / "canl").symlink_to(canary)
    (context / "up").symlink_to("../../../../../../../../../..")
    (context / "shadowlink").symlink_to("/etc/shadow")
    (context / "archive.tar").symlink_to(tmp_path / "host.tar")
    return context


@pytest.mark.parametrize(
    "instruction, named",
    [
        ("COPY etcl/shadow /y", "etcl/shadow"),
        ("ADD etcl/ssh/ssh_host* /ssh/", "etcl/ssh/ssh_host*"),
        ("COPY up/etc/shadow /y", "up/etc/shadow"),
        ("COPY shadowlink /y", "shadowlink"),
        ("COPY canl/secret /y", "canl/secret"),
        ("COPY canl/* /y/", "canl/*"),
        ("ADD archive.tar /unpacked/", "archive.tar"),
    ],
)
def test_build_context_symlinks_never_leave_the_context(
    agent: Agent, hostile_context: Path, instruction: str, named: str
) -> None:
    result = _build(agent, hostile_context, f"FROM {IMAGE}\n{instruction}\n")
    output = result.stdout + result.stderr
    try:
        assert result.returncode != 0, f"the build went through:\n{output}"
        assert f"stat {named}: file does not exist" in output  # the error names the path
        assert not _leaks(output)
    finally:
        agent.docker("rmi", "escape:1", check=False)


def test_a_symlink_to_etc_in_the_context_means_the_contexts_etc(agent: Agent, hostile_context: Path) -> None:
    (hostile_context / "etc").mkdir()
    (hostile_context / "etc" / "shadow").write_text("the context's own\n")
    result = _build(agent, hostile_context, f"FROM {IMAGE}\nCOPY etcl/shadow /y\nCOPY . /ctx/\n")
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        assert _image_files(agent, "escape:1", "/y") == "the context's own\n"
        links = agent.docker("run", "--rm", "escape:1", "sh", "-c", "readlink /ctx/etcl; readlink /ctx/canl").stdout
        assert links.split() == ["/etc", str(agent.root.parent / "canary")]  # copied as links, not followed
        assert not _leaks(_image_files(agent, "escape:1", "/ctx/canl/secret", "/ctx/shadowlink", "/ctx/archive.tar"))
    finally:
        agent.docker("rmi", "escape:1", check=False)


def test_a_dockerfile_or_dockerignore_that_is_a_symlink_out_is_not_read(agent: Agent, client: object) -> None:
    context = io.BytesIO(tar_of(("sym", "Dockerfile", "/etc/shadow")))
    with pytest.raises(Exception, match="Cannot locate specified Dockerfile") as refused:
        client.images.build(fileobj=context, custom_context=True, tag="escape:1")  # type: ignore[attr-defined]
    assert not _leaks(str(refused.value))
    context = io.BytesIO(
        tar_of(("file", "Dockerfile", f"FROM {IMAGE}\nCOPY . /ctx/\n"), ("sym", ".dockerignore", "/etc/shadow"))
    )
    client.images.build(fileobj=context, custom_context=True, tag="escape:1")  # type: ignore[attr-defined]
    try:
        assert agent.docker("run", "--rm", "escape:1", "readlink", "/ctx/.dockerignore").stdout == "/etc/shadow\n"
    finally:
        agent.docker("rmi", "escape:1", check=False)


# -- 2. image and stage symlinks, docker cp, ADD archives, volume paths -------------------------------------


@pytest.fixture
def linked_image(agent: Agent, tmp_path: Path, canary: Path) -> Iterator[str]:
    """An image whose symlinks point out of it: /lnk -> /etc, /can -> the canary, /up -> a `..` chain."""
    context = tmp_path / "base"
    context.mkdir()
    result = _build(
        agent, context, f"FROM {IMAGE}\nRUN ln -s /etc /lnk && ln -s {canary} /can && ln -s ../../../../../.. /up\n"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    agent.docker("tag", "escape:1", "escape-base:1")
    agent.docker("rmi", "escape:1")
    try:
        yield "escape-base:1"
    finally:
        agent.docker("rmi", "escape-base:1", check=False)


@pytest.mark.parametrize("source", ["/lnk/shadow", "/can/secret", "/up/etc/shadow", "/can/data/*", "/up/etc/ssh/ssh*"])
def test_copy_from_an_image_resolves_inside_that_image(
    agent: Agent, tmp_path: Path, linked_image: str, source: str
) -> None:
    result = _build(agent, tmp_path, f"FROM {IMAGE}\nCOPY --from={linked_image} {source} /stolen/\n")
    try:
        assert result.returncode != 0, "the build went through"
        assert f"stat {source}: file does not exist" in result.stdout + result.stderr
    finally:
        agent.docker("rmi", "escape:1", check=False)


def test_copy_from_an_image_through_its_own_link_gets_the_images_file(
    agent: Agent, tmp_path: Path, linked_image: str
) -> None:
    result = _build(agent, tmp_path, f"FROM {IMAGE}\nCOPY --from={linked_image} /lnk/passwd /up/etc/group /got/\n")
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        got = _image_files(agent, "escape:1", "/got/passwd", "/got/group")
        assert got.startswith("root:x:0:0:root:/root:/bin/sh\n") and "nogroup" in got  # busybox's, not the host's
    finally:
        agent.docker("rmi", "escape:1", check=False)


def test_copy_from_a_stage_resolves_inside_that_stage(agent: Agent, tmp_path: Path, canary: Path) -> None:
    dockerfile = f"FROM {IMAGE} AS first\nRUN ln -s {canary} /c\nFROM {IMAGE}\nCOPY --from=first /c/secret /x\n"
    result = _build(agent, tmp_path, dockerfile)
    try:
        assert result.returncode != 0 and "stat /c/secret: file does not exist" in result.stdout + result.stderr
    finally:
        agent.docker("rmi", "escape:1", check=False)


def test_add_of_a_hostile_archive_stays_in_the_layer(agent: Agent, tmp_path: Path, canary: Path) -> None:
    (tmp_path / "evil.tar").write_bytes(tar_of(("sym", "lnk", str(canary)), ("file", "lnk/pwned", "x")))
    result = _build(agent, tmp_path, f"FROM {IMAGE}\nADD evil.tar /x/\n")
    try:
        assert result.returncode != 0
        assert (
            "refusing tar member 'lnk/pwned': a folder on its path (lnk) is a symlink" in result.stdout + result.stderr
        )
    finally:
        agent.docker("rmi", "escape:1", check=False)


def test_volume_paths_are_resolved_inside_the_image(agent: Agent, tmp_path: Path, canary: Path) -> None:
    """A VOLUME under an image symlink to a host folder: the new volume is filled from the image, never the host."""
    result = _build(agent, tmp_path, f"FROM {IMAGE}\nRUN ln -s {canary} /v\nVOLUME /v/data\nWORKDIR /v/made\n")
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        seen = agent.docker("run", "--rm", "escape:1", "sh", "-c", "ls -A /v/data; cat /v/data/* 2>&1; true")
        assert not _leaks(seen.stdout) and "secret" not in seen.stdout
        assert not (canary / "made").exists() and not (canary / "data" / "made").exists()
    finally:
        agent.docker("rmi", "escape:1", check=False)
        agent.docker("volume", "prune", "-f", check=False)


@pytest.fixture
def linked_container(agent: Agent, canary: Path) -> Iterator[str]:
    """A running container with symlinks out of it in its rootfs and in a volume."""
    name = "escape-cp"
    setup = f"ln -s /etc /lnk; ln -s {canary} /can; ln -s ../../../../../.. /up; ln -s {canary} /data/can; sleep 300"
    agent.docker("run", "-d", "--name", name, "-v", "escape-vol:/data", IMAGE, "sh", "-c", setup)
    agent.docker("exec", name, "sh", "-c", "while [ ! -L /data/can ]; do sleep 0.1; done")
    try:
        yield name
    finally:
        agent.docker("rm", "-f", name, check=False)
        agent.docker("volume", "rm", "escape-vol", check=False)


@pytest.mark.parametrize(
    "path", ["/can/secret", "/can/", "/up/etc/shadow", "/data/can/secret", "/data/can/", "/lnk/shadow"]
)
def test_cp_from_a_container_stays_inside_it(agent: Agent, linked_container: str, path: str) -> None:
    result = subprocess.run(
        ["docker", "cp", f"{linked_container}:{path}", "-"], env=agent.env, capture_output=True, timeout=60
    )
    assert result.returncode != 0 and not _leaks(result.stdout)
    assert f"Could not find the file {path}" in result.stderr.decode()


def test_cp_from_a_container_follows_its_links_inside_it(agent: Agent, linked_container: str, tmp_path: Path) -> None:
    agent.docker("cp", f"{linked_container}:/lnk/passwd", str(tmp_path / "passwd"))
    assert (tmp_path / "passwd").read_text().startswith("root:x:0:0:root:/root:/bin/sh\n")
    agent.docker("cp", f"{linked_container}:/data/can", str(tmp_path / "can"))  # the link itself, not followed
    assert os.readlink(tmp_path / "can") == str(agent.root.parent / "canary")


def test_cp_into_a_container_stays_inside_it(agent: Agent, linked_container: str, tmp_path: Path, canary: Path) -> None:
    (tmp_path / "pwned").write_text("x")
    for target in ("/can/", "/data/can/", "/up/" + str(canary).lstrip("/") + "/"):
        result = agent.docker("cp", str(tmp_path / "pwned"), f"{linked_container}:{target}", check=False)
        # the refusal comes before the archive is read (as dockerd's): the CLI may then also say that the rest of
        # the archive it was still sending met a closed pipe
        assert result.returncode != 0 and "no such directory\n" in result.stderr, result.stderr
    agent.docker("cp", str(tmp_path / "pwned"), f"{linked_container}:/lnk/")  # the container's own /etc
    assert agent.docker("exec", linked_container, "cat", "/etc/pwned").stdout == "x"
    evil = tmp_path / "evil.tar"
    evil.write_bytes(tar_of(("sym", "out", str(canary)), ("file", "out/pwned", "x")))
    with open(evil, "rb") as f:
        piped = subprocess.run(
            ["docker", "cp", "-", f"{linked_container}:/tmp"], env=agent.env, stdin=f, capture_output=True, text=True
        )
    assert piped.returncode != 0 and "a folder on its path (out) is a symlink" in piped.stderr


def test_cp_into_a_folder_the_container_keeps_swapping_for_a_link_never_lands_outside(
    agent: Agent, linked_container: str, tmp_path: Path, canary: Path
) -> None:
    """The container races the agent, turning /w/d into a link to the canary and back: fds never follow it."""
    swap = f"mkdir -p /w/d; while true; do mv /w/d /w/x; ln -s {canary} /w/d; rm /w/d; mv /w/x /w/d; done"
    agent.docker("exec", "-d", linked_container, "sh", "-c", swap)
    (tmp_path / "raced").write_text("x")
    for _ in range(15):
        agent.docker("cp", str(tmp_path / "raced"), f"{linked_container}:/w/d/", check=False)
    assert not (canary / "raced").exists()


def test_cp_into_a_read_only_rootfs_or_volume_is_refused(agent: Agent, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    agent.docker("run", "-d", "--name", "escape-ro", "--read-only", "-v", "escape-ro:/ro:ro", IMAGE, "sleep", "60")
    try:
        for target, why in (("/tmp", "container rootfs is marked read-only"), ("/ro", "volume is marked read-only")):
            result = agent.docker("cp", str(tmp_path / "f"), f"escape-ro:{target}", check=False)
            assert result.returncode != 0 and why in result.stderr
    finally:
        agent.docker("rm", "-f", "escape-ro", check=False)
        agent.docker("volume", "rm", "escape-ro", check=False)


# -- 3. names become paths ------------------------------------------------------------------------------


def test_a_volume_name_never_reaches_outside_the_volumes(agent: Agent, canary: Path) -> None:
    for method in ("GET", "DELETE"):
        status, body = _request(agent, method, "/v1.45/volumes/..%2F..%2Fcanary")
        assert status == 400 and "'../../canary'" in body, (method, status, body)
    status, body = _request(agent, "GET", "/v1.45/volumes/canary%0A")
    assert status == 400


@pytest.mark.parametrize("name", ["ok\n", "../../canary", "a/b", "x" * 256, "a\u0000b", "a"])
def test_bad_volume_names_are_refused_with_a_400_naming_them(agent: Agent, canary: Path, name: str) -> None:
    status, message = _request(agent, "POST", "/v1.45/volumes/create", json.dumps({"Name": name}).encode())
    assert status == 400 and (repr(name)[:20] in message or "too short" in message), message
    assert not any(name in v for v in agent.docker("volume", "ls", "-q").stdout.split())


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/v1.45/containers/create?name=ok%0A", {"Image": IMAGE}),
        ("POST", "/v1.45/networks/create", {"Name": "a/b"}),
        ("POST", "/v1.45/networks/create", {"Name": "net\n"}),
        ("POST", f"/v1.45/images/{IMAGE}/tag?repo=..%2F..%2Fx", None),
        ("POST", f"/v1.45/images/{IMAGE}/tag?repo=ok%0A", None),
        ("POST", f"/v1.45/images/{IMAGE}/tag?repo=x&tag=..%2Fy", None),
        ("POST", "/v1.45/build?t=..%2Fevil", None),
        ("GET", "/v1.45/exec/..%2F..%2Fx/json", None),
        ("GET", "/v1.45/containers/a%00b/json", None),
    ],
)
def test_bad_names_and_ids_are_a_400(agent: Agent, method: str, path: str, body: object) -> None:
    status, answer = _request(agent, method, path, json.dumps(body).encode() if body is not None else None)
    assert status == 400, (status, answer)
    assert "invalid" in answer.lower()


def test_a_bad_container_name_in_a_rename_is_refused(agent: Agent) -> None:
    agent.docker("create", "--name", "escape-rename", IMAGE, "true")
    try:
        status, body = _request(agent, "POST", "/v1.45/containers/escape-rename/rename?name=x%0Ay")
        assert status == 400 and "Invalid container name" in body
    finally:
        agent.docker("rm", "escape-rename")


def _image_archive(layer: bytes, diff_id: str | None = None, tags: list[str] | None = None) -> bytes:
    """A `docker save` archive of one image with `layer` (its diff ID may be given: a lie)."""
    import hashlib

    diff_id = diff_id or "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}})
    manifest = [{"Config": "config.json", "RepoTags": tags or [], "Layers": ["layer.tar"]}]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        files = {"config.json": config.encode(), "layer.tar": layer, "manifest.json": json.dumps(manifest).encode()}
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(
    "diff_id, tags, error",
    [
        ("sha256:../../../canary", [], "invalid digest"),
        (None, ["../../x:1"], "invalid reference format"),
        (None, ["ok\n:1"], "invalid reference format"),
    ],
)
def test_a_loaded_image_never_names_a_path_outside_the_store(
    agent: Agent, canary: Path, tmp_path: Path, diff_id: str | None, tags: list[str], error: str
) -> None:
    archive = tmp_path / "image.tar"
    archive.write_bytes(_image_archive(tar_of(("file", "f", "x")), diff_id, tags))
    result = agent.docker("load", "-i", str(archive), check=False)
    assert result.returncode != 0 and error in result.stderr
    assert not any(t.startswith(("../", "ok")) for t in agent.docker("images", "--format", "{{.Repository}}").stdout)


# -- 4. whiteouts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("whiteout", [".wh..", ".wh...", ".wh.", "keep/.wh..", "keep/.wh..."])
@pytest.mark.parametrize("via", ["import", "load"])
def test_whiteouts_of_dot_or_dotdot_are_refused_before_anything_is_touched(
    agent: Agent, tmp_path: Path, whiteout: str, via: str
) -> None:
    layer = tar_of(("dir", "keep", ""), ("file", "keep/file", "x"), ("file", whiteout, ""))
    archive = tmp_path / "layer.tar"
    archive.write_bytes(layer if via == "import" else _image_archive(layer, tags=["whiteout:1"]))
    layers_before = sorted(os.listdir(agent.root / "images" / "layers"))
    result = agent.docker(*(["import", str(archive)] if via == "import" else ["load", "-i", str(archive)]), check=False)
    assert result.returncode != 0
    assert f"refusing tar member {whiteout!r}: a whiteout must name a file in its folder" in result.stderr
    assert sorted(os.listdir(agent.root / "images" / "layers")) == layers_before
    assert os.listdir(agent.root / "images" / "tmp") == []


@pytest.fixture(params=["crun", "runc"])
def runtime_agent(request: pytest.FixtureRequest, tmp_path: Path, image_tarball: Path) -> Iterator[Agent]:
    """An agent of the test's own on each OCI runtime: they, not the agent, make WORKDIR and mount points."""
    if not shutil.which(request.param) or (request.param == "crun" and not choose().endswith("crun")):
        pytest.skip(f"{request.param} is not installed or cannot work with this host's cgroups")
    a = Agent(tmp_path / "agent", ("--runtime", request.param))
    a.base.mkdir()
    with serving(a, image_tarball):
        yield a


def test_workdirs_and_mount_points_under_an_image_link_are_made_inside_the_container(
    runtime_agent: Agent, tmp_path: Path
) -> None:
    """WORKDIR, -w, a volume's and a bind's destination under /can -> a host folder: all made in the rootfs."""
    agent, canary = runtime_agent, tmp_path / "canary"
    canary.mkdir()
    (canary / "secret").write_text(SECRET)
    context, bound = tmp_path / "context", tmp_path / "bound"
    context.mkdir()
    bound.mkdir()
    dockerfile = f"FROM {IMAGE}\nRUN ln -s {canary} /can\nWORKDIR /can/wd\nRUN touch by-run\nHEALTHCHECK CMD true\n"
    result = _build(agent, context, dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr
    script = "touch by-w /can/vol/by-vol /can/bind/by-bind; ls /can /can/wd; cat /can/secret 2>&1; true"
    mounts = ("-v", "escape-wd:/can/vol", "-v", f"{bound}:/can/bind")
    seen = agent.docker("run", "--rm", "-w", "/can/w2", *mounts, "escape:1", "sh", "-c", script).stdout
    listing = "/can:\nbind\nvol\nw2\nwd\n\n/can/wd:\nby-run\n"  # the rootfs' own folder, made there
    assert seen == listing + "cat: can't open '/can/secret': No such file or directory\n" and not _leaks(seen)
    assert sorted(os.listdir(canary)) == ["secret"]  # nothing made through the link
    assert os.listdir(bound) == ["by-bind"]
    assert agent.docker("run", "--rm", "-v", "escape-wd:/v", IMAGE, "ls", "/v").stdout == "by-vol\n"
