"""What a build is asked for, and where each of its stages stands."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

Progress = Callable[[dict[str, Any]], None]


@dataclass
class Options:
    """The query of POST /build."""

    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    target: str = ""
    nocache: bool = False
    pull: bool = False
    quiet: bool = False
    buildargs: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    auth: dict[str, str] = field(default_factory=dict)
    extra_hosts: list[str] = field(default_factory=list)  # `host:ip` lines RUN steps see in /etc/hosts
    network_mode: str = "default"  # the network RUN steps run on
    resources: dict[str, Any] = field(default_factory=dict)  # HostConfig limits of the RUN steps' containers
    cancelled: threading.Event = field(default_factory=threading.Event)  # set once the client went away


@dataclass
class Stage:
    """A stage of a multi-stage build: its name, the image it is at, that image's config and its ARGs."""

    name: str
    image_id: str  # "" for scratch before any step
    config: dict[str, Any]
    args: dict[str, str]
    cmd_set: bool = False  # a CMD came earlier in the stage: ENTRYPOINT keeps it, as in Docker
