"""Image references: `[registry/]repository[:tag][@digest]`, and the local name an image is kept under."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidInput


def normalize(ref: str) -> str:
    """`busybox` -> `busybox:latest`; `docker.io/library/x` -> `x:latest`; digests are kept."""
    name, digest = ([*ref.split("@", 1), ""])[:2] if "@" in ref else (ref, "")
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if name.startswith("library/") and name.count("/") == 1:
        name = name[len("library/") :]
    if digest:
        return f"{name}@{digest}"
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


@dataclass
class Reference:
    registry: str  # host[:port] as the user wrote it ("docker.io" for Docker Hub)
    repository: str  # e.g. library/busybox
    tag: str
    digest: str

    @classmethod
    def parse(cls, ref: str, tag: str = "") -> Reference:
        name, _, digest = ref.partition("@")
        first, sep, rest = name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, rest
        else:
            registry, path = "docker.io", name
        last = path.rsplit("/", 1)
        if ":" in last[-1]:
            path, _, found_tag = path.rpartition(":")
            tag = tag or found_tag
        if registry == "docker.io" and "/" not in path:
            path = f"library/{path}"
        if not path or path != path.lower():
            raise InvalidInput(f"invalid reference format: {ref!r} (repository names must be lowercase)")
        return cls(registry, path, tag or ("" if digest else "latest"), digest)

    @property
    def host(self) -> str:
        return "registry-1.docker.io" if self.registry == "docker.io" else self.registry

    @property
    def name(self) -> str:
        """The local name: `busybox`, `localhost:5000/x`."""
        if self.registry == "docker.io":
            return self.repository[len("library/") :] if self.repository.startswith("library/") else self.repository
        return f"{self.registry}/{self.repository}"
