"""The pool that serves requests: at most `size` worker threads, started as work comes; a request that turns into
a long-lived stream keeps its thread but leaves the pool, and another worker takes its place."""

from __future__ import annotations

import collections
import logging
import threading
from typing import Callable, Generic, TypeVar

from .errors import HttpError

log = logging.getLogger("guest.http")

T = TypeVar("T")

IDLE_EXIT = 60.0  # seconds a worker waits for work before it ends


class Workers(Generic[T]):
    """Threads that call `serve(item)` for each submitted item: at most `size` at once in the pool, plus at most
    `streams` that left it (each serving one long-lived stream); items wait in order for a free worker."""

    def __init__(self, serve: Callable[[T], None], size: int, streams: int):
        self._serve = serve
        self._size = size
        self._max_streams = streams
        self._queue: collections.deque[T] = collections.deque()
        self._cond = threading.Condition()
        self._count = 0  # threads in the pool, busy or idle
        self._idle = 0  # pool threads waiting for an item
        self._streams = 0  # threads that left the pool for a stream
        self._local = threading.local()

    @property
    def threads(self) -> tuple[int, int]:
        """(threads in the pool, threads serving streams)."""
        with self._cond:
            return self._count, self._streams

    def submit(self, item: T) -> None:
        with self._cond:
            self._queue.append(item)
            if len(self._queue) > self._idle and self._count < self._size:
                self._spawn()
            else:
                self._cond.notify()

    def leave(self) -> None:
        """On a worker whose request turns into a long-lived stream: it leaves the pool (a new worker takes its
        place); 503 when `streams` threads serve streams already. Nothing on other threads, or when left already."""
        with self._cond:
            if getattr(self._local, "left", True):
                return
            if self._streams >= self._max_streams:
                raise HttpError(503, f"too many long-lived streams ({self._max_streams}) at once: try again later")
            self._local.left = True
            self._streams += 1
            self._count -= 1
            if len(self._queue) > self._idle:
                self._spawn()

    def _spawn(self) -> None:
        try:
            threading.Thread(target=self._run, daemon=True, name="api-worker").start()
        except RuntimeError as e:  # out of threads: the items wait for the workers there are
            log.warning("cannot start another worker: %s", e)
            return
        self._count += 1

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._idle += 1
                    woken = self._cond.wait(IDLE_EXIT)
                    self._idle -= 1
                    if not woken and not self._queue:
                        self._count -= 1
                        return  # idle for long: the pool shrinks back after a burst
                item = self._queue.popleft()
            self._local.left = False
            try:
                self._serve(item)
            except Exception:  # a bug must not shrink the pool
                log.exception("serving a connection failed")
            with self._cond:
                if self._local.left:
                    self._streams -= 1
                    if self._count >= self._size:
                        return  # its place in the pool was taken: the thread ends with its stream
                    self._count += 1
