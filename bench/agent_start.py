#!/usr/bin/env python3
"""The agent's start: time from its start to serving (/_ping answers) and to started (its start-up work done: a
container listing answers), the processes it runs before each, the modules it imports, and the processes of the
first `docker run` on a network after the start (bridge and firewall set-up). Median of N starts on one state root
holding 3 networks and 20 stopped containers. Each --tree (a checkout, e.g. a `git worktree` of the parent commit)
is measured on the same state, so before and after come from one run.

Run as root in a network namespace of its own (e.g. under /work/isolated-run): it makes bridges and firewall rules.
Usage: python3 bench/agent_start.py [--runs N] [--tree PATH ...]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine.busybox import image_tar  # noqa: E402
from tests.support.agent import Agent, _ping, cleanup_state  # noqa: E402

IMAGE = "busybox:test"
NETWORKS = 3
CONTAINERS = 20


def start(tree: Path, agent: Agent, trace: Path | None = None) -> tuple[subprocess.Popen[bytes], float, float, float]:
    """The agent of `tree` on `agent`'s socket and root: (process, its start, serving, started), epoch seconds."""
    agent.socket.unlink(missing_ok=True)
    command = [sys.executable, "-S", "-m", "guest", "--socket", str(agent.socket), "--root", str(agent.root)]
    if trace is not None:
        command = ["strace", "-f", "-qq", "-ttt", "-e", "trace=execve", "-e", "signal=none", "-o", str(trace), *command]
    began = time.time()
    proc = subprocess.Popen(command, cwd=tree, stdout=subprocess.DEVNULL, stderr=open(agent.log, "ab"))  # noqa: SIM115
    while not _ping(agent.socket):
        if proc.poll() is not None:
            raise RuntimeError(f"agent did not start: {agent.log.read_text()[-2000:]}")
        time.sleep(0.005)
    serving = time.time()
    while not _ping(agent.socket, "/containers/json?limit=1", timeout=60):
        time.sleep(0.005)
    return proc, began, serving, time.time()


def stop(proc: subprocess.Popen[bytes], trace: Path | None = None) -> None:
    """Stop the agent (under strace: the traced agent, whose pid begins the trace; strace then ends)."""
    if trace is None:
        proc.send_signal(signal.SIGTERM)
    else:
        os.kill(int(trace.read_text().split(None, 1)[0]), signal.SIGTERM)
    proc.wait(30)


def executed(trace: Path) -> list[tuple[float, str]]:
    """The programs run (successful execve) in a trace, as (time, name), the agent's own python left out."""
    found = []
    for line in trace.read_text().splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2].startswith("execve(") and line.endswith("= 0"):
            name = os.path.basename(parts[2][len('execve("') :].split('"')[0])
            found.append((float(parts[1]), name))
    return found[1:]  # the first is the agent itself


def served_at(log: Path) -> float:
    """When the agent last logged that it serves (epoch seconds): what it ran before, it ran before serving."""
    line = [line for line in log.read_text().splitlines() if " serving on " in line][-1]
    stamp, millis = line[:23].split(",")
    return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000


def imports(tree: Path, modules: str) -> tuple[int, float]:
    """The modules importing `modules` loads (count, total ms on this host; without site, as the unit runs it)."""
    out = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", f"import {modules}"],
        cwd=tree,
        capture_output=True,
        text=True,
    ).stderr.splitlines()
    rows = [line.split("|") for line in out if line.startswith("import time:") and "self [us]" not in line]
    return len(rows), sum(int(r[0].split(":")[1]) for r in rows) / 1000


def measure(tree: Path, agent: Agent, runs: int, work: Path) -> dict[str, str]:
    serving, started = [], []
    for _ in range(runs):
        proc, began, ready, done = start(tree, agent)
        serving.append((ready - began) * 1000)
        started.append((done - began) * 1000)
        stop(proc)
    trace = work / f"trace-{tree.name}"
    proc, began, ready, done = start(tree, agent, trace)
    before = executed(trace)
    ready = served_at(agent.log)
    agent.docker("run", "--rm", "--network", "net1", IMAGE, "true")
    stop(proc, trace)
    after_run = executed(trace)[len(before) :]
    first_run = collections.Counter(name for _, name in after_run)
    firewall = sum(n for name, n in first_run.items() if "iptables" in name)
    count, import_ms = imports(tree, "guest.__main__")
    routes = "guest.api.routes" if (tree / "guest/api/routes.py").exists() else "guest.api"  # all routes
    count_all, all_ms = imports(tree, f"guest.__main__, {routes}")
    return {
        "start to serving (ms, median)": f"{statistics.median(serving):.0f}",
        "start to started (ms, median)": f"{statistics.median(started):.0f}",
        "processes before serving": str(sum(1 for t, _ in before if t < ready)),
        "processes before started": str(sum(1 for t, _ in before if t < done)),
        "modules imported before serving (ms)": f"{count} ({import_ms:.0f})",
        "modules imported in all (ms)": f"{count_all} ({all_ms:.0f})",
        "first run on a network: ip/iptables*": f"{first_run['ip']}/{firewall}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tree", action="append", type=Path, help="a checkout to measure (default: this one)")
    args = parser.parse_args()
    trees = [t.resolve() for t in args.tree or [REPO]]
    work = Path(tempfile.mkdtemp(prefix="agent-start-"))
    agent = Agent(work / "agent")
    agent.base.mkdir()
    try:
        image_tar(work / "busybox.tar", IMAGE)
        agent.start()
        agent.docker("load", "-i", str(work / "busybox.tar"))
        for n in range(NETWORKS):
            agent.docker("network", "create", f"net{n}")
        for i in range(CONTAINERS):
            agent.docker("run", "--name", f"c{i}", "--network", f"net{i % NETWORKS}", IMAGE, "true")
        agent.kill(signal.SIGTERM)
        results = {tree: measure(tree, agent, args.runs, work) for tree in trees}
    finally:
        agent.kill(signal.SIGTERM)
        cleanup_state(agent.root)
        shutil.rmtree(work, ignore_errors=True)
    rows = list(next(iter(results.values())))
    width = max(len(r) for r in rows)
    print(f"{NETWORKS} networks, {CONTAINERS} stopped containers, {args.runs} starts each")
    print(f"{'':{width}}  " + "  ".join(f"{str(t)[-24:]:>24}" for t in trees))
    for row in rows:
        print(f"{row:{width}}  " + "  ".join(f"{results[t][row]:>24}" for t in trees))


if __name__ == "__main__":
    main()
