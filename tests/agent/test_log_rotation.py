"""Log caps as dockerd has them: --log-opt max-size/max-file rotate the log of json-file and local (local capped
by default), docker logs reads the rotated files in order (--tail and -f across them), bad options are refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers

# numbered lines after a go-ahead, in bursts (the agent renames the files conmon leaves between them)
WRITER = (
    "echo ready; until [ -e /go ]; do sleep 0.05; done; "
    "i=1; while [ $i -le {count} ]; do echo line $i; [ $((i % 40)) = 0 ] && sleep 0.05; i=$((i+1)); done"
)


def _numbers(output: str) -> list[int]:
    return [int(line.split()[1]) for line in output.splitlines() if line.startswith("line ")]


def _log_files(agent: Agent, name: str) -> dict[str, int]:
    log_path = Path(json.loads(agent.docker("inspect", name).stdout)[0]["LogPath"])
    return {p.name: p.stat().st_size for p in log_path.parent.glob(log_path.name + "*")}


def _written(agent: Agent, name: str, count: int, *options: str) -> list[int]:
    """Run the writer under `options`, following its logs from before the first line; the lines followed."""
    agent.docker("run", "-d", "--name", name, *options, IMAGE, "sh", "-c", WRITER.format(count=count))
    follow = subprocess.Popen(["docker", "logs", "-f", name], env=agent.env, stdout=subprocess.PIPE, text=True)
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == "ready\n"
        agent.docker("exec", name, "touch", "/go")
        followed, _ = follow.communicate(timeout=300)
    finally:
        follow.kill()
        follow.wait()
    agent.docker("wait", name)
    return _numbers(followed)


def test_json_file_log_is_rotated_at_max_size(agent: Agent) -> None:
    try:
        followed = _written(agent, "rotated", 1500, "--log-opt", "max-size=10k", "--log-opt", "max-file=3")
        kept = _numbers(agent.docker("logs", "rotated").stdout)
        assert kept == list(range(kept[0], 1501)) and kept[0] > 1  # the most recent lines, in order, only them
        assert len(kept) > 10000 // 60  # more than one file's worth (a line is under 60 bytes in the file)
        assert followed == sorted(followed) and followed[-len(kept) :] == kept  # -f saw all the kept lines
        files = _log_files(agent, "rotated")
        assert sorted(files) == ["ctr.log", "ctr.log.1", "ctr.log.2"], files
        assert all(size <= 10000 for size in files.values()) and sum(files.values()) <= 30000
        tail = agent.docker("logs", "--tail", "5", "rotated").stdout
        assert _numbers(tail) == [1496, 1497, 1498, 1499, 1500]
        across = agent.docker("logs", "--tail", str(len(kept) - 3), "rotated").stdout  # from the oldest file on
        assert _numbers(across) == kept[3:]
        stamped = agent.docker("logs", "--timestamps", "--tail", "2", "rotated").stdout.splitlines()
        assert [line.split(" ", 1)[1] for line in stamped] == ["line 1499", "line 1500"]
    finally:
        agent.docker("rm", "-f", "rotated")


def test_local_driver_is_capped_by_default(agent: Agent) -> None:
    try:
        agent.docker("run", "-d", "--name", "local-default", "--log-driver", "local", IMAGE, "sleep", "600")
        pid = (
            Path(json.loads(agent.docker("inspect", "local-default").stdout)[0]["LogPath"]).parent
            / "bundle"
            / "conmon.pid"
        )
        args = Path(f"/proc/{int(pid.read_text())}/cmdline").read_bytes().split(b"\0")
        assert args[args.index(b"--log-size-max") + 1] == str(20 * 1024 * 1024).encode()  # dockerd's 20m
        followed = _written(agent, "local-small", 1200, "--log-driver", "local", "--log-opt", "max-size=5k")
        kept = _numbers(agent.docker("logs", "local-small").stdout)
        assert kept == list(range(kept[0], 1201)) and kept[0] > 1
        assert followed[-len(kept) :] == kept
        files = _log_files(agent, "local-small")
        assert sorted(files) == ["ctr.log", *(f"ctr.log.{i}" for i in range(1, 5))], files  # 5 files by default
        assert sum(files.values()) <= 25000
        config = json.loads(agent.docker("inspect", "local-small").stdout)[0]["HostConfig"]["LogConfig"]
        assert config == {"Type": "local", "Config": {"max-size": "5k"}}
    finally:
        agent.docker("rm", "-f", "local-default", "local-small")


def test_a_restarted_container_keeps_its_cap(agent: Agent) -> None:
    """A new run starts a new file (conmon counts its cap from its start): the earlier runs' lines stay rotated."""
    options = ("--log-opt", "max-size=10k", "--log-opt", "max-file=2")
    try:
        agent.docker("run", "--name", "again", *options, IMAGE, "sh", "-c", "seq 1 100 | sed 's/^/line /'")
        agent.docker("start", "-a", "again")
        agent.docker("start", "-a", "again")
        assert _numbers(agent.docker("logs", "again").stdout) == list(range(1, 101)) * 2  # the first run dropped
        files = _log_files(agent, "again")
        assert sorted(files) == ["ctr.log", "ctr.log.1"] and sum(files.values()) <= 20000, files
    finally:
        agent.docker("rm", "-f", "again")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--log-opt", "max-size=10x"), "invalid size: '10x'"),
        (("--log-opt", "max-size=0"), "max-size must be a positive number"),
        (("--log-opt", "max-file=two"), 'strconv.Atoi: parsing "two": invalid syntax'),
        (("--log-opt", "max-file=0"), "max-file cannot be less than 1"),
        (("--log-opt", "compress=yes"), 'strconv.ParseBool: parsing "yes": invalid syntax'),
        (("--log-opt", "compress=true"), "compress cannot be true when max-file is less than 2"),
        (("--log-opt", "tag=x"), "unknown log opt 'tag' for json-file log driver"),
        (("--log-driver", "local", "--log-opt", "max-size=-1"), "invalid value for max-size: -1: invalid size"),
        (("--log-driver", "local", "--log-opt", "max-file=1"), "compression cannot be enabled when max file count"),
        (("--log-driver", "local", "--log-opt", "mode=x"), "unknown log opt 'mode' for log driver local"),
        (("--log-driver", "local", "--log-opt", "compress=true"), "compress=true is not supported"),
    ],
)
def test_bad_log_options_are_refused(agent: Agent, options: tuple[str, ...], message: str) -> None:
    refused = agent.docker("create", *options, IMAGE, "true", check=False)
    assert refused.returncode != 0 and message in refused.stderr, refused.stderr
