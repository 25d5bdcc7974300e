"""Progress of long work, told through the plain `Progress` callable every driver and library function takes.

A message is a line. A message starting with "\\r" redraws the current line instead: the CLI's `Console`
shows it in place when stderr is a terminal (its `live` attribute) and drops it otherwise. `Meter` (a
known total: bytes, layers) and `ticking` (an unknown duration: a package install, a bootstrap) build on
that: on a terminal a bar or a counter with the elapsed time, redrawn; otherwise a plain line at each
tenth of the way, or every half minute.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

Progress = Callable[[str], None]
REDRAW = "\r"
_WIDTH = 24  # characters of a bar
_PLAIN_EVERY = 30.0  # seconds between plain lines of a step of unknown length


def is_live(progress: Progress) -> bool:
    """Whether `progress` shows redrawn lines (a terminal)."""
    return bool(getattr(progress, "live", False))


def elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class Console:
    """The CLI's progress on stderr: lines, and on a terminal one line redrawn in place."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._lock = threading.Lock()
        self._open = False  # a redrawn line is on screen, without its newline

    def __call__(self, message: str) -> None:
        with self._lock:
            if message.startswith(REDRAW):
                if self.live:
                    self.stream.write(f"\r\x1b[K{message[len(REDRAW) :]}")
                    self.stream.flush()
                    self._open = True
                return
            if self._open:  # the line replaces the redrawn one
                self.stream.write("\r\x1b[K")
                self._open = False
            self.stream.write(f"{message}\n")
            self.stream.flush()


class Meter:
    """A step toward a known total: `update(done)` as it goes, `finish()` at the end."""

    def __init__(self, progress: Progress, label: str, total: float, unit: str = "MB", scale: float = 1e6):
        self.progress, self.label, self.total, self.unit, self.scale = progress, label, total, unit, scale
        self.live = is_live(progress)
        self.started = time.monotonic()
        self._drawn = 0.0
        self._tenths = 0

    def _figures(self, done: float) -> str:
        if not self.total:
            return f"{done / self.scale:.1f} {self.unit}"
        return f"{done / self.scale:.1f}/{self.total / self.scale:.1f} {self.unit}"

    def update(self, done: float) -> None:
        now = time.monotonic()
        if self.live:
            if now - self._drawn < 0.1:
                return
            self._drawn = now
            bar = ""
            if self.total:
                filled = min(_WIDTH, int(_WIDTH * done / self.total))
                bar = f"[{'=' * filled}{' ' * (_WIDTH - filled)}] {min(100, int(100 * done / self.total)):3d}%  "
            self.progress(f"{REDRAW}{self.label}  {bar}{self._figures(done)}  {elapsed(now - self.started)}")
        elif self.total and done * 10 // self.total > self._tenths:
            self._tenths = int(done * 10 // self.total)
            self.progress(f"  {self._figures(done)} ({self._tenths * 10}%)")

    def finish(self, done: float) -> None:
        """Replace the bar (or follow the tenths) with what was done in how long."""
        self.progress(f"{self.label}: {self._figures(done)} in {elapsed(time.monotonic() - self.started)}")


@contextlib.contextmanager
def ticking(progress: Progress, label: str) -> Iterator[None]:
    """While the block runs: on a terminal `label` with the elapsed time, redrawn every second; otherwise
    `label`, then a line every half minute. At the end, the time it took."""
    started = time.monotonic()
    stop = threading.Event()
    live = is_live(progress)
    progress(f"{REDRAW}{label}  0:00" if live else label)

    def tick() -> None:
        while not stop.wait(1.0 if live else _PLAIN_EVERY):
            spent = elapsed(time.monotonic() - started)
            progress(f"{REDRAW}{label}  {spent}" if live else f"  {spent} elapsed")

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    spent = elapsed(time.monotonic() - started)
    progress(f"{label}: done in {spent}" if live else f"  done in {spent}")
