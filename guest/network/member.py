"""What networking needs of a container: its record (settings, endpoints, addresses) and its folder (/etc/hosts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class Member(Protocol):
    """A container as the networks see it (guest.containers.record.Container is one)."""

    path: Path
    data: dict[str, Any]

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def running(self) -> bool: ...

    @property
    def networks(self) -> dict[str, Any]: ...
