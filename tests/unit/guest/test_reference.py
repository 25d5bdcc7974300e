"""Image references: one grammar for pull, push, build and the image store's names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guest.errors import InvalidInput
from guest.images.reference import Reference, normalize

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "ref, registry, repository, tag, digest",
    [
        ("busybox", "docker.io", "library/busybox", "latest", ""),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36", ""),
        ("team/app", "docker.io", "team/app", "latest", ""),
        ("docker.io/library/busybox", "docker.io", "library/busybox", "latest", ""),
        ("index.docker.io/team/app:v2", "docker.io", "team/app", "v2", ""),
        ("localhost/app", "localhost", "app", "latest", ""),
        ("localhost:5000/team/app:1", "localhost:5000", "team/app", "1", ""),
        ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "latest", ""),
        ("reg.example.com/app@" + DIGEST, "reg.example.com", "app", "", DIGEST),
        ("app:1@" + DIGEST, "docker.io", "library/app", "1", DIGEST),
    ],
)
def test_parse(ref: str, registry: str, repository: str, tag: str, digest: str) -> None:
    assert Reference.parse(ref) == Reference(registry, repository, tag, digest)


def test_a_port_is_not_a_tag_and_the_tag_parameter_wins() -> None:
    assert Reference.parse("localhost:5000/app").tag == "latest"
    assert Reference.parse("busybox", "musl").tag == "musl"
    assert Reference.parse("busybox:glibc", "musl").tag == "musl"  # as dockerd treats fromImage=...&tag=...


@pytest.mark.parametrize(
    "ref, name, host",
    [
        ("busybox", "busybox", "registry-1.docker.io"),
        ("team/app", "team/app", "registry-1.docker.io"),
        ("library/a/b", "library/a/b", "registry-1.docker.io"),  # as Docker: library/ only goes for one-part names
        ("localhost:5000/app", "localhost:5000/app", "localhost:5000"),
        ("docker.io/my.org/app", "docker.io/my.org/app", "registry-1.docker.io"),  # my.org alone would be a registry
    ],
)
def test_name_and_host(ref: str, name: str, host: str) -> None:
    reference = Reference.parse(ref)
    assert (reference.name, reference.host) == (name, host)


@pytest.mark.parametrize("ref", ["Busybox", "team/App:1", "localhost:5000/", "a//b"])
def test_invalid_references_are_refused_by_parse(ref: str) -> None:
    with pytest.raises(InvalidInput, match="invalid reference format"):
        Reference.parse(ref)


@pytest.mark.parametrize(
    "ref, local",
    [
        ("busybox", "busybox:latest"),
        ("docker.io/library/busybox:1", "busybox:1"),
        ("index.docker.io/team/app", "team/app:latest"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("busybox@" + DIGEST, "busybox@" + DIGEST),
        ("busybox:1@" + DIGEST, "busybox:1@" + DIGEST),
        ("sha256:abcd", "sha256:abcd"),  # an image ID looks up as itself
        ("Upper", "Upper:latest"),  # normalize only names things; parse refuses them
    ],
)
def test_normalize(ref: str, local: str) -> None:
    assert normalize(ref) == local


_component = st.from_regex(r"[a-z0-9]+(?:[._-][a-z0-9]+)?", fullmatch=True)
_references = st.builds(
    lambda registry, path, tag: registry + "/".join(path) + tag,
    st.sampled_from(["", "docker.io/", "localhost:5000/", "reg.example.com/"]),
    st.lists(_component, min_size=1, max_size=3),
    st.sampled_from(["", ":1", ":latest", ":v1.2-rc"]),
)


@given(_references)
def test_normalize_is_stable_and_the_local_name_parses_to_the_same_reference(ref: str) -> None:
    local = normalize(ref)
    assert normalize(local) == local
    assert Reference.parse(local) == Reference.parse(ref)
