"""Image references, one grammar for all: `[registry/]repository[:tag][@digest]` as pull, push, build and tag
read them, and the local name an image is kept under (Docker Hub's `docker.io/library/` left out)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidInput

DOCKER_HUB = "docker.io"
HUB_ALIASES = (DOCKER_HUB, "index.docker.io")  # the names references give Docker Hub


def _is_host(part: str) -> bool:
    """Whether the first part of a name is a registry (`host.name`, `host:port`, `localhost`), not a path."""
    return "." in part or ":" in part or part == "localhost"


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
        """split() of a reference that must name a repository: path components present and lowercase."""
        reference = cls.split(ref, tag)
        parts = reference.repository.split("/")
        if not all(parts) or reference.repository != reference.repository.lower():
            raise InvalidInput(f"invalid reference format: {ref!r} (repository names must be lowercase)")
        return reference

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
