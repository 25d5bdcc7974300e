"""The agent's start: what it imports before it answers /_ping, its command line (read without argparse) and the
priority it opens the engine at."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from guest import options
from guest.__main__ import YIELDING, Yielding
from guest.api.http.timeouts import Limits

REPO = Path(__file__).resolve().parents[3]
# what the server and the engine need, and what only help or errors need: none of it before the agent answers
_MODULES_OF_MAIN = "import sys; sys.path.insert(0, sys.argv[1]); import guest.__main__; print(' '.join(sys.modules))"
LATER = {
    *("socket", "selectors", "enum", "threading", "functools", "collections"),
    *("logging", "re", "typing", "json", "argparse", "gettext", "pathlib", "urllib.parse", "http", "traceback"),
}


def test_the_agent_imports_only_what_listening_and_the_ping_need_before_it_answers() -> None:
    """As its unit starts it (python3 -E -s -S): everything main() runs before early.serve_until is imported by
    guest.__main__ itself (the main thread imports the rest once early.py answers)."""
    shown = subprocess.run(
        [sys.executable, "-E", "-s", "-S", "-c", _MODULES_OF_MAIN, str(REPO)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "guest.api.http.early" in shown
    assert not LATER & set(shown)


def test_every_option_is_read_in_both_forms() -> None:
    args = options.parse(
        [
            "--socket=/run/a.sock",
            "--root",
            "/var/lib/a",
            "--runtime",
            "runc",
            "--insecure-registry",
            "r1:5000",
            "--insecure-registry=r2:5000",
            "--socket-group",
            "staff",
            "--cleanup",
            "--read-timeout",
            "1.5",
            "--idle-timeout=2",
            "--log-level",
            "debug",
        ],
        "1.0",
    )
    assert (args.socket, args.root, args.runtime, args.socket_group) == ("/run/a.sock", "/var/lib/a", "runc", "staff")
    assert args.insecure_registry == ["r1:5000", "r2:5000"]
    assert args.cleanup is True and (args.read_timeout, args.idle_timeout) == (1.5, 2.0)
    assert args.log_level == "debug"


def test_defaults() -> None:
    args = options.parse([], "1.0")
    assert (args.socket, args.root, args.runtime) == (options.DEFAULT_SOCKET, options.DEFAULT_ROOT, "auto")
    assert args.insecure_registry == [] and args.socket_group is None and args.cleanup is False
    assert args.read_timeout is None and args.idle_timeout is None and args.log_level == "info"
    assert options.parse([], "1.0").insecure_registry is not args.insecure_registry  # no list shared


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--bogus"], "unrecognized argument: --bogus"),
        (["--sock", "/x"], "unrecognized argument: --sock"),  # no abbreviations
        (["/x"], "unrecognized argument: /x"),
        (["--root"], "argument --root: expected one argument"),
        (["--runtime", "docker"], "argument --runtime: invalid choice: 'docker' (choose from auto, crun, runc)"),
        (["--read-timeout", "soon"], "argument --read-timeout: invalid float value: 'soon'"),
        (["--cleanup=yes"], "argument --cleanup: ignored explicit argument 'yes'"),
    ],
)
def test_a_mistake_exits_2_with_the_usage_and_what_is_wrong(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        options.parse(argv, "1.0")
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"{options.USAGE}\nmachine-agent: error: {message}\n"


def test_help_names_every_option_and_the_servers_own_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        options.parse(["--cleanup", "--help"], "1.0")
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert all(f"  {option.flag}" in shown for option in options.OPTIONS)
    limits = Limits()
    assert f"(default {limits.read:g})" in shown and f"(default {limits.idle:g})" in shown


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        options.parse(["--version"], "1.2.3")
    assert exited.value.code == 0 and capsys.readouterr().out == "machine-agent 1.2.3\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root lowers the engine's priority (only root may raise it again)")
def test_the_engine_opens_at_a_low_priority_and_its_thread_returns_to_its_own() -> None:
    seen: dict[str, int] = {}

    def engine_thread() -> None:
        seen["before"] = os.getpriority(os.PRIO_PROCESS, 0)
        with Yielding():
            seen["opening"] = os.getpriority(os.PRIO_PROCESS, 0)
            started = threading.Thread(target=lambda: seen.update(inherited=os.getpriority(os.PRIO_PROCESS, 0)))
            started.start()
            started.join()
        seen["after"] = os.getpriority(os.PRIO_PROCESS, 0)

    thread = threading.Thread(target=engine_thread)
    thread.start()
    thread.join()
    assert seen["opening"] == seen["inherited"] == YIELDING != seen["before"]
    assert seen["after"] == seen["before"]
    assert os.getpriority(os.PRIO_PROCESS, 0) == seen["before"], "only the calling thread's priority changes"
