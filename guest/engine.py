"""The engine: the agent's stores and managers, wired together once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .containers.execs import Execs
from .containers.supervision import Containers
from .events import Events
from .images.store import ImageStore
from .volumes import VolumeStore


@dataclass
class Engine:
    """The agent's parts, as the API uses them."""

    root: Path
    events: Events
    images: ImageStore
    volumes: VolumeStore
    containers: Containers
    execs: Execs
    insecure_registries: set[str]

    @classmethod
    def open(cls, root: Path, runtime: str = "auto", insecure_registries: set[str] | None = None) -> Engine:
        """Open (or create) the state under `root` and recover containers left by a previous agent."""
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)
        events = Events()
        images = ImageStore(root / "images")
        volumes = VolumeStore(root / "volumes")
        containers = Containers(root / "containers", images, volumes, events, runtime)
        containers.recover()
        return cls(root, events, images, volumes, containers, Execs(containers), insecure_registries or set())
