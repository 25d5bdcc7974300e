"""The engine: the agent's stores and managers, wired together once at start-up."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .containers.execs import Execs
from .containers.health import Health
from .containers.supervision import Containers
from .events import Events
from .images.store import ImageStore
from .volumes import VolumeStore

log = logging.getLogger("guest")


@dataclass
class Engine:
    """The agent's parts, as the API uses them."""

    root: Path
    events: Events
    images: ImageStore
    volumes: VolumeStore
    containers: Containers
    execs: Execs
    health: Health
    insecure_registries: set[str]
    started: threading.Event = field(default_factory=threading.Event)  # set once start_up() is done

    @classmethod
    def open(cls, root: Path, runtime: str = "auto", insecure_registries: set[str] | None = None) -> Engine:
        """Open (or create) the state under `root`: its records read, nothing run yet (start_up() does that)."""
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)
        events = Events()
        images = ImageStore(root / "images")
        volumes = VolumeStore(root / "volumes")
        containers = Containers(root / "containers", images, volumes, events, runtime)
        execs = Execs(containers)
        health = Health(containers, execs, events)
        return cls(root, events, images, volumes, containers, execs, health, insecure_registries or set())

    def start_up(self) -> None:
        """The start-up work that can wait for the socket to answer, in the background: the leftovers of builds and
        loads swept, the networks of the containers that run set up (in one batch), the containers recovered. The
        routes that need it wait for `started` (wait_started); /_ping, /version, /info and /events do not."""
        threading.Thread(target=self._start_up, name="start-up", daemon=True).start()

    def _start_up(self) -> None:
        try:
            self.images.sweep()
            self.containers.recover()
        except Exception:  # never keeps the agent from serving: what failed is logged, the rest goes on
            log.exception("start-up work failed")
        finally:
            self.started.set()
            log.info("start-up work done: %d containers recovered", len(self.containers.all()))

    def wait_started(self) -> None:
        """Block until start_up() is done (a request that needs recovered containers and ready networks)."""
        self.started.wait()
