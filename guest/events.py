"""The engine's event bus, served on /events (the tunnel follows it for published ports)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

_HISTORY = 1000


class Events:
    """Publishes Docker-format events to subscribers and keeps a short history for `since`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue[dict[str, Any]]] = []
        self._history: list[dict[str, Any]] = []

    def emit(self, type_: str, action: str, id_: str, attributes: dict[str, str] | None = None) -> None:
        now = time.time_ns()
        event = {
            "Type": type_,
            "Action": action,
            "Actor": {"ID": id_, "Attributes": attributes or {}},
            "scope": "local",
            "time": now // 1_000_000_000,
            "timeNano": now,
        }
        if type_ == "container":  # the pre-1.22 fields the CLI still reads
            event.update({"status": action, "id": id_, "from": (attributes or {}).get("image", "")})
        with self._lock:
            self._history = ([*self._history, event])[-_HISTORY:]
            for q in self._subscribers:
                q.put(event)

    def subscribe(
        self, since_ns: int | None = None, until_ns: int | None = None, poll: float = 1.0
    ) -> Iterator[dict[str, Any] | None]:
        """Past events after `since_ns`, then live ones until `until_ns`.

        Yields None every `poll` seconds without events so a streaming caller can notice a closed peer.
        """
        q: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            past = [e for e in self._history if since_ns is not None and e["timeNano"] >= since_ns]
            self._subscribers.append(q)
        try:
            for event in past:
                if until_ns is not None and event["timeNano"] > until_ns:
                    return
                yield event
            while until_ns is None or time.time_ns() < until_ns:
                try:
                    event = q.get(timeout=poll)
                except queue.Empty:
                    yield None
                    continue
                if until_ns is not None and event["timeNano"] > until_ns:
                    return
                yield event
        finally:
            with self._lock:
                self._subscribers.remove(q)
