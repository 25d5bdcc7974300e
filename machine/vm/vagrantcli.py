"""The user's `vagrant`, driven through python-vagrant (the `vagrant` extra), with what that library leaves out:
a timeout on every command (a hung Vagrant is killed with its children), Vagrant's own stderr kept in a log
whose tail the error shows, the user's environment kept with Vagrant's network calls turned off, and
progress from the `==>` lines Vagrant prints while it works."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# no version check at HashiCorp, no box update check: Vagrant makes no network call of its own accord
NO_NETWORK = {"VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1"}
INSTALL = "install it from https://developer.hashicorp.com/vagrant/install (Debian: sudo apt-get install vagrant)"

Progress = Callable[[str], None]
# Vagrant looks for a Vagrantfile in the folders above its own when its folder has none, and loads the one it
# finds (a user's ~/Vagrantfile, say) even for `box` and `plugin` commands, making a .vagrant folder beside it
_PLACEHOLDER = "# machine runs vagrant in this folder; this file keeps Vagrant from using a Vagrantfile above it\n"
_BACKTRACE = re.compile(r"^\s+from \S+:\d+:in ")
_DETAIL = re.compile(r"^==> [^:]+:\s+(--|->)")  # the settings a provider lists under "Creating domain..."


class VagrantError(Exception):
    """A vagrant command failed, timed out or cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class Box:
    name: str
    provider: str
    version: str


def find(binary: str = "") -> str | None:
    """The path of the vagrant executable: `binary` when given (a path or a name on PATH), else `vagrant`."""
    return shutil.which(os.path.expanduser(binary or "vagrant"))


def missing(binary: str = "") -> str:
    """What to do when `binary` (or vagrant on PATH) is not there."""
    where = f"{binary!r} is not an executable" if binary else "`vagrant` is not on PATH"
    return f"Vagrant is needed and {where}: {INSTALL}"


def _library() -> Any:
    try:
        import vagrant
    except ImportError:
        raise VagrantError("the vagrant driver needs python-vagrant: pip install 'machine[vagrant]'") from None
    return vagrant


class Vagrant:
    """python-vagrant's commands and parsers, each command run with a timeout and its stderr logged.

    `root` is the folder of the Vagrantfile (an empty one is written when it has none); `log` gathers every
    command's stderr (created 0600)."""

    def __init__(
        self,
        root: Path,
        log: Path,
        binary: str = "",
        env: dict[str, str] | None = None,
        progress: Progress | None = None,
    ):
        executable = find(binary)
        if executable is None:
            raise VagrantError(missing(binary))
        self.root, self.log, self.progress = root, log, progress or (lambda line: None)
        if not (root / "Vagrantfile").exists():
            (root / "Vagrantfile").write_text(_PLACEHOLDER)
        self.env = {**os.environ, **NO_NETWORK, **(env or {})}  # python-vagrant's env= replaces the environment whole
        self._timeout = 60.0
        self._lib = _library().Vagrant(root=str(root), env=self.env)
        self._lib._vagrant_exe = executable
        # python-vagrant runs every command through these two: ours add the timeout and keep stderr
        self._lib._call_vagrant_command = lambda args: self._run(args, stream=True)
        self._lib._run_vagrant_command = lambda args: self._run(args, stream=False)

    def _with(self, timeout: float, method: str, *args: Any, **kwargs: Any) -> Any:
        self._timeout = timeout
        return getattr(self._lib, method)(*args, **kwargs)

    def up(self, provider: str, timeout: float) -> None:
        self._with(timeout, "up", provider=provider)

    def halt(self, force: bool = False, timeout: float = 300) -> None:
        self._with(timeout, "halt", force=force)

    def suspend(self, timeout: float) -> None:
        self._with(timeout, "suspend")

    def resume(self, timeout: float) -> None:
        self._with(timeout, "resume")

    def destroy(self, timeout: float = 300) -> None:
        self._with(timeout, "destroy")

    def state(self, timeout: float = 120) -> str:
        """The machine's state as `vagrant status --machine-readable` says it (running, poweroff, not_created...)."""
        statuses = self._with(timeout, "status")
        return str(statuses[0].state) if statuses else "not_created"

    def ssh_config(self, timeout: float = 120) -> str:
        return str(self._with(timeout, "ssh_config"))

    def plugins(self, timeout: float = 120) -> list[str]:
        return [plugin.name for plugin in self._with(timeout, "plugin_list")]

    def boxes(self, timeout: float = 120) -> list[Box]:
        return [Box(box.name, box.provider, str(box.version)) for box in self._with(timeout, "box_list")]

    def add_box(self, source: str, timeout: float = 900) -> None:
        """`vagrant box add SOURCE`: a .box file (with --name) or a catalog file naming the box's versions."""
        self._timeout = timeout
        self._run(["box", "add", "--force", source], stream=True)

    def remove_box(self, name: str, timeout: float = 300) -> None:
        """`vagrant box remove` of every version and provider of box `name`."""
        self._timeout = timeout
        self._run(["box", "remove", "--force", "--all", name], stream=True)

    def _run(self, args: list[str | None], stream: bool) -> str:
        """Run vagrant ARGS in the root folder within the timeout; its stdout (and Vagrant's ==> lines as
        progress when `stream`), its stderr appended to the log."""
        words = [arg for arg in args if arg is not None]
        command = self._lib._make_vagrant_command(words)
        label = f"vagrant {' '.join(words)}"
        out: list[str] = []
        with tempfile.TemporaryFile() as err:
            process = subprocess.Popen(
                command,
                cwd=self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=os.name == "posix",
            )
            assert process.stdout is not None
            reader = threading.Thread(target=self._read, args=(process.stdout, out, stream), daemon=True)
            reader.start()
            try:
                process.wait(timeout=self._timeout)
            except subprocess.TimeoutExpired:
                _kill_tree(process)
                self._append_log(label, err, "(killed: no answer in time)")
                raise VagrantError(
                    f"`{label}` did not finish within {self._timeout:.0f}s and was stopped; see {self.log}"
                ) from None
            finally:
                reader.join(timeout=5)
            stderr = self._append_log(label, err, f"(exit {process.returncode})")
        if process.returncode != 0:
            raise VagrantError(f"`{label}` failed: {_tail(stderr)}")
        return "".join(out)

    def _read(self, stdout: IO[bytes], out: list[str], stream: bool) -> None:
        for raw in stdout:
            line = raw.decode(errors="replace")
            out.append(line)
            if stream and line.startswith("==> ") and not _DETAIL.match(line):
                self.progress(line[4:].strip())

    def _append_log(self, label: str, err: IO[bytes], outcome: str) -> str:
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {label} {outcome}\n{stderr}")
        return stderr


def _tail(stderr: str, lines: int = 6) -> str:
    """The last lines of Vagrant's stderr without the Ruby backtrace a provider's exception comes with."""
    said = [line.strip() for line in stderr.splitlines() if line.strip() and not _BACKTRACE.match(line)]
    return " / ".join(said[-lines:]) or "no message"


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """Kill vagrant and what it started (ruby, the provider's tools)."""
    if os.name == "posix":
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    else:
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, timeout=30)
    process.wait()
