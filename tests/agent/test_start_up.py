"""The agent serves at once: its start-up work (recovery, networks, sweeping) runs in the background after its
socket answers, and only the requests that need that work wait for it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def gated_runtimes(folder: Path, gate: Path) -> str:
    """A PATH whose runc and crun are the real ones, except that `list` (the first thing recovery runs) waits
    until something is written to the FIFO `gate`: the agent's start-up work stays pending until the test says."""
    folder.mkdir()
    os.mkfifo(gate)
    for name in ("runc", "crun"):
        real = shutil.which(name)
        if real:
            script = folder / name
            script.write_text(
                f'#!/bin/sh\nfor a in "$@"; do [ "$a" = list ] && [ -p {gate} ] && cat {gate} >/dev/null; done\n'
                f'exec {real} "$@"\n'
            )
            script.chmod(0o755)
    return f"{folder}:{os.environ['PATH']}"


def test_the_agent_answers_while_its_start_up_work_is_pending(fresh_agent: Agent, tmp_path: Path) -> None:
    agent = fresh_agent
    agent.docker("network", "create", "start-up-net")
    agent.docker("run", "-d", "--name", "runs", "--network", "start-up-net", IMAGE, "sleep", "600")
    agent.docker("create", "--name", "stopped", IMAGE, "true")
    agent.kill(signal.SIGKILL)
    gate = tmp_path / "gate"
    agent.prefix = ("env", f"PATH={gated_runtimes(tmp_path / 'bin', gate)}")
    served_before = agent.log.read_text().count("start-up work done")

    agent.start(started=False)  # returns once /_ping answers: recovery is held at the gate
    assert agent.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    assert agent.docker("info", "--format", "{{.Containers}}").stdout.strip() == "2"
    listing = subprocess.Popen(
        ["docker", "ps", "--format", "{{.Names}} {{.Status}}"], env=agent.env, stdout=subprocess.PIPE, text=True
    )
    assert agent.log.read_text().count("start-up work done") == served_before  # still pending: /_ping did not wait

    gate.write_text("go\n")  # recovery goes on; the listing waited for it
    out, _ = listing.communicate(timeout=120)
    assert listing.returncode == 0 and out.startswith("runs Up")
    log = agent.log.read_text()
    assert log.rindex("answering /_ping on") < log.rindex("serving on") < log.rindex("start-up work done")
    # the network of the running container was set up by the start-up work: a new container on it reaches it
    ping = agent.docker("run", "--rm", "--network", "start-up-net", IMAGE, "ping", "-c", "1", "-W", "5", "runs")
    assert "1 packets received" in ping.stdout


def test_the_priority_its_unit_starts_it_at_ends_once_it_serves(fresh_agent: Agent) -> None:
    """The unit starts the agent at Nice=-10, ahead of the rest of the boot; the containers it starts once it
    serves (and its threads after the first) run at the normal priority."""
    agent = fresh_agent
    agent.kill(signal.SIGTERM)
    agent.prefix = ("nice", "-n", "-10")
    agent.start()
    assert agent.proc is not None
    threads = Path(f"/proc/{agent.proc.pid}/task")
    main_nice = int((threads / str(agent.proc.pid) / "stat").read_text().rsplit(")", 1)[1].split()[16])
    assert main_nice == 0
    run = agent.docker("run", "--rm", IMAGE, "sh", "-c", "cut -d' ' -f19 /proc/self/stat")
    assert run.stdout.strip() == "0"
