"""Image references, one grammar for all: `[registry/]repository[:tag][@digest]` as pull, push, build and tag
read them, and the local name an image is kept under (Docker Hub's `docker.io/library/` left out)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidInput

DOCKER_HUB = "docker.io"
HUB_ALIASES = (DOCKER_HUB, "index.docker.io")  # the names references give Docker Hub

# Docker's grammar (distribution/reference), ASCII only
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*"
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::{TAG.pattern})?(?:@{DIGEST.pattern})?")
_NAME_MAX = 255
_HEX_ID = re.compile(r"[0-9a-f]{64}")


def _is_host(part: str) -> bool:
    """Whether the first part of a name is a registry (`host.name`, `host:port`, `localhost`), not a path."""
    return "." in part or ":" in part or part == "localhost" or part != part.lower()


@dataclass(frozen=True)
class Reference:
    """A reference in its parts (the repository of a Docker Hub official image is `library/NAME`)."""

    registry: str  # host[:port] as the user wrote it ("docker.io" for Docker Hub)
    repository: str  # e.g. library/busybox
    tag: str  # "latest" when neither a tag nor a digest is given
    digest: str

    @classmethod
    def split(cls, ref: str, tag: str = "") -> Reference:
        """The parts of `ref` (`tag` if it has none), without checking that they make a valid name."""
        name, _, digest = ref.partition("@")
        first, sep, rest = name.partition("/")
        if sep and _is_host(first):
            registry, path = first, rest
        else:
            registry, path = DOCKER_HUB, name
        if registry in HUB_ALIASES:
            registry = DOCKER_HUB
        if ":" in path.rsplit("/", 1)[-1]:
            path, _, found = path.rpartition(":")
            tag = tag or found
        if registry == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        return cls(registry, path, tag or ("" if digest else "latest"), digest)

    @classmethod
    def parse(cls, ref: str, tag: str = "") -> Reference:
        """split() of a reference that Docker's grammar accepts whole (`tag` a tag or a digest), the name at most
        255 characters and no 64-hex-digit repository (it would read as an image ID)."""
        found = _REFERENCE.fullmatch(ref) if isinstance(ref, str) else None
        if found is None:
            lowercase = isinstance(ref, str) and _REFERENCE.fullmatch(ref.lower()) is not None
            why = " (repository names must be lowercase)" if lowercase else ""
            raise InvalidInput(f"invalid reference format: {_cut(ref)!r}{why}")
        if tag and not (TAG.fullmatch(tag) or DIGEST.fullmatch(tag)):
            raise InvalidInput(f"invalid reference format: tag {_cut(tag)!r}")
        if len(found["name"]) > _NAME_MAX:
            raise InvalidInput(f"invalid reference format: the name is longer than {_NAME_MAX} characters")
        if _HEX_ID.fullmatch(found["name"]):
            raise InvalidInput(
                f"invalid repository name ({found['name'][:12]}...), cannot specify 64-byte hexadecimal strings"
            )
        if tag and DIGEST.fullmatch(tag):
            return cls.split(f"{ref}@{tag}")
        return cls.split(ref, tag)

    @property
    def host(self) -> str:
        """Where the registry answers (Docker Hub's API is not at docker.io)."""
        return "registry-1.docker.io" if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        """The local name: `busybox`, `team/app`, `localhost:5000/x`."""
        if self.registry != DOCKER_HUB:
            return f"{self.registry}/{self.repository}"
        short = self.repository[len("library/") :] if self.repository.startswith("library/") else ""
        name = short if short and "/" not in short else self.repository
        return f"{DOCKER_HUB}/{name}" if "/" in name and _is_host(name.split("/", 1)[0]) else name

    @property
    def local(self) -> str:
        """The name with its tag and digest: what the image store keys it by."""
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def normalize(ref: str) -> str:
    """The local form of a reference: `busybox` -> `busybox:latest`, `docker.io/library/x` -> `x:latest`."""
    return Reference.split(ref).local


def _cut(text: object, limit: int = 300) -> str:
    """`text` as an error message quotes it: at most `limit` characters."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."
