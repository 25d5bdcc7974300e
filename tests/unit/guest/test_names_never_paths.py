"""Names and IDs never become paths: volume names, digests, references and the route layer's parameters are matched
whole against Docker's grammar before anything is made of them (`$` would let "ok\n" through)."""

from __future__ import annotations

from pathlib import Path

import pytest

from guest.api.http.errors import HttpError
from guest.api.http.router import Router
from guest.errors import InvalidInput, NotFound
from guest.images.reference import Reference
from guest.images.store import ImageStore, digest_hex
from guest.network.store import NetworkStore
from guest.volumes import VolumeStore

HEX = "ab" * 32
BAD_NAMES = ["ok\n", "../x", "..", "a/b", "x\0y", "a b", "-a", ".hidden", "a" * 256, "é1"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_volume_names_are_refused_and_never_looked_up(tmp_path: Path, name: str) -> None:
    volumes = VolumeStore(tmp_path / "volumes")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "meta.json").write_text("{}")  # what ../x would find
    with pytest.raises(InvalidInput, match="volume name"):
        volumes.create(name)
    for lookup in (volumes.inspect, lambda n: volumes.remove(n, [])):
        with pytest.raises(NotFound, match="no such volume"):
            lookup(name)
    assert (tmp_path / "x" / "meta.json").exists() and list((tmp_path / "volumes").iterdir()) == []


def test_volume_names_docker_accepts_work_and_one_letter_is_too_short(tmp_path: Path) -> None:
    volumes = VolumeStore(tmp_path)
    assert volumes.create("a1.b_c-d")["Name"] == "a1.b_c-d"
    assert volumes.create("x" * 255)["Name"] == "x" * 255
    with pytest.raises(InvalidInput, match="too short"):
        volumes.create("a")


@pytest.mark.parametrize("name", ["a/b", "x\n", "../n", "", "a" * 256])
def test_bad_network_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInput):
        NetworkStore(tmp_path).create({"Name": name})


@pytest.mark.parametrize("digest", ["sha256:../../x", "sha256:" + HEX + "\n", HEX.upper(), "sha256:abc", "md5:" + HEX])
def test_digests_that_would_name_other_files_are_refused(tmp_path: Path, digest: str) -> None:
    with pytest.raises(InvalidInput, match="invalid digest"):
        digest_hex(digest, "sha256:")
    store = ImageStore(tmp_path)
    with pytest.raises(InvalidInput):
        store.has_layer(digest)
    with pytest.raises(NotFound):
        store.get(digest)
    assert not store.exists(digest)


def test_an_image_config_naming_layers_outside_the_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "canary").mkdir()
    (tmp_path / "canary" / "meta.json").write_text("{}")
    store = ImageStore(tmp_path / "images")
    config = b'{"rootfs": {"type": "layers", "diff_ids": ["sha256:../../../canary"]}}'
    with pytest.raises(InvalidInput, match="invalid digest"):
        store.add_image(config, [])
    with pytest.raises(InvalidInput, match="invalid reference format"):
        store.add_image(b'{"rootfs": {"type": "layers", "diff_ids": []}}', ["../../x:1"])


@pytest.mark.parametrize(
    "ref",
    [
        "ok\n",
        "busybox:1\n",
        "../x",
        "a/../b",
        "busybox:",
        "busybox@sha256:abc",
        "x:" + "t" * 129,
        "a" * 256,
        HEX,
        "a\0b",
    ],
)
def test_references_outside_the_grammar_are_refused(ref: str) -> None:
    with pytest.raises(InvalidInput):
        Reference.parse(ref)


def test_a_tag_parameter_is_a_tag_or_a_digest() -> None:
    digest = "sha256:" + HEX
    assert Reference.parse("busybox", digest) == Reference("docker.io", "library/busybox", "", digest)
    assert Reference.parse("Registry.Example.com:5000/a__b/c-d", "v1.0_x").tag == "v1.0_x"
    for tag in ("v1\n", "../x", "-x"):
        with pytest.raises(InvalidInput, match="tag"):
            Reference.parse("busybox", tag)


def _router() -> Router:
    router = Router()
    router.route("GET", "/volumes/{name}")(lambda req: None)
    router.route("GET", "/images/{name:path}/json")(lambda req: None)
    return router


@pytest.mark.parametrize(
    "path", ["/volumes/..%2F..%2Fsomewhere", "/volumes/a%00b", "/volumes/ok%0A", "/images/a%0A/json"]
)
def test_the_route_layer_never_decodes_a_name_into_a_path(path: str) -> None:
    with pytest.raises(HttpError) as refused:
        _router().match("GET", path)
    assert refused.value.status == 400 and "holds no '/'" in refused.value.message


def test_names_with_slashes_stay_where_the_route_allows_them() -> None:
    _, params = _router().match("GET", "/images/localhost:5000%2Fteam/app/json")
    assert params == {"name": "localhost:5000/team/app"}
    assert _router().match("GET", "/volumes/my%2Evol")[1] == {"name": "my.vol"}
