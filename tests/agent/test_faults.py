"""Faults: starts that fail, the agent killed in the middle of work, a full disk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent import IMAGE, Agent, serving

pytestmark = pytest.mark.containers


@pytest.mark.parametrize(
    "args, error",
    [
        (["/no/such/binary"], "no such file"),
        (["--entrypoint", "/nope", IMAGE], "no such file"),
        (["-w", "/etc/passwd", IMAGE, "true"], "not a directory"),
        (["--network", "container:nosuch", IMAGE, "true"], "nosuch"),
        (["--user", "nosuchuser", IMAGE, "true"], "nosuchuser"),
    ],
    ids=["missing-binary", "bad-entrypoint", "bad-workdir", "missing-network-peer", "missing-user"],
)
def test_run_rm_whose_start_fails_ends_with_the_error(agent: Agent, args: list[str], error: str) -> None:
    if args[0].startswith("/"):
        args = [IMAGE, *args]
    try:
        result = agent.docker("run", "--rm", "--name", "failing-start", *args, check=False, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"docker run --rm {' '.join(args)} hung")
    assert result.returncode != 0 and error in result.stderr
    assert agent.docker("ps", "-aq", "--filter", "name=failing-start").stdout == ""  # --rm removed it


def test_attach_ends_when_the_start_fails(agent: Agent) -> None:
    cid = agent.docker("create", "--network", "container:nosuch", IMAGE, "true").stdout.strip()
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(60)
            sock.connect(str(agent.socket))
            sock.sendall(
                f"POST /containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: agent\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode()
            )
            assert sock.recv(4096).startswith(b"HTTP/1.1 101")
            start = agent.docker("start", cid, check=False)
            assert start.returncode != 0 and "nosuch" in start.stderr
            assert sock.recv(4096) == b""  # the attach ends, no output
        state = json.loads(agent.docker("inspect", cid).stdout)[0]["State"]
        assert state["Status"] == "created" and "nosuch" in state["Error"]
    finally:
        agent.docker("rm", "-f", cid, check=False)


def test_attach_calls_whose_client_hung_up_end(agent: Agent) -> None:
    assert agent.proc is not None
    tasks = Path(f"/proc/{agent.proc.pid}/task")
    cid = agent.docker("create", IMAGE, "true").stdout.strip()
    before = len(list(tasks.iterdir()))
    try:
        for _ in range(100):  # waiting for a start that never comes, more of them than the pool has workers
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(60)
                sock.connect(str(agent.socket))
                sock.sendall(
                    f"POST /containers/{cid}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: agent\r\n"
                    "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode()
                )
                assert sock.recv(4096).startswith(b"HTTP/1.1 101")
        deadline = time.monotonic() + 60
        while len(list(tasks.iterdir())) - before >= 80 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(list(tasks.iterdir())) - before < 80  # idle workers at most, not a thread per hung-up client
    finally:
        agent.docker("rm", "-f", cid, check=False)


def test_a_client_that_closes_stdin_at_once_still_gets_the_output(agent: Agent) -> None:
    for _ in range(5):  # stdin ends (a half-close) before the container starts: the attach must go on
        assert agent.docker("run", "--rm", "-i", IMAGE, "sh", "-c", "sleep 0.5; echo out", input="").stdout == "out\n"


def _runtime_containers(agent: Agent) -> dict[str, str]:
    """What the OCI runtime of the agent's state root holds: {id: status}."""
    found = {}
    for runtime in ("crun", "runc"):
        if shutil.which(runtime) and (agent.root / "runtime").exists():
            listed = subprocess.run(
                [runtime, "--root", str(agent.root / "runtime"), "list", "--format", "json"],
                capture_output=True,
                text=True,
            )
            found.update({c["id"]: c["status"] for c in json.loads(listed.stdout or "null") or []})
    return found


def _monitors(agent: Agent) -> set[str]:
    """The container IDs that a conmon of this agent's state root is running."""
    ids = set()
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"conmon") and str(agent.root).encode() in b" ".join(args):
            ids.add(args[args.index(b"-c") + 1].decode())
    return ids


def _records(agent: Agent) -> dict[str, str]:
    ids = agent.docker("ps", "-aq", "--no-trunc").stdout.split()
    inspected = json.loads(agent.docker("inspect", *ids).stdout) if ids else []
    return {c["Id"]: c["State"]["Status"] for c in inspected}


def _orphans(agent: Agent) -> list[str]:
    """Runtime containers and monitors that the records do not say are running."""
    records = _records(agent)
    running = {cid for cid, status in records.items() if status in ("running", "paused")}
    runtime = _runtime_containers(agent)
    orphans = [f"{cid[:12]} is {status} in the runtime" for cid, status in runtime.items() if cid not in running]
    orphans += [f"{cid[:12]} has a monitor" for cid in _monitors(agent) - running]
    orphans += [f"{cid[:12]} is running without a runtime container" for cid in running if cid not in runtime]
    return orphans


@pytest.mark.parametrize("held", [0, 1, 4, 8])
def test_agent_killed_during_concurrent_runs_leaves_no_orphan(fresh_agent: Agent, held: int) -> None:
    """kill -9 once the runtime holds `held` of 12 containers being run at once (some created, some starting, some
    running; 0: at once), then start the agent again: the runtime agrees with the records."""
    agent = fresh_agent
    runs = [
        subprocess.Popen(
            ["docker", "run", "-d", IMAGE, "sleep", "600"],
            env=agent.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(12)
    ]
    deadline = time.monotonic() + 120
    while len(_runtime_containers(agent)) < held and time.monotonic() < deadline:
        time.sleep(0.02)
    agent.kill(signal.SIGKILL)
    for run in runs:
        run.wait(120)
    agent.start()
    assert _orphans(agent) == []
    ids = agent.docker("ps", "-aq").stdout.split()
    if ids:
        agent.docker("rm", "-f", *ids, timeout=300)
    assert _runtime_containers(agent) == {} and _monitors(agent) == set()


def test_start_up_deletes_what_has_no_record(fresh_agent: Agent) -> None:
    """A removal cut short after the record went: its runtime container and folder go at the next start."""
    agent = fresh_agent
    cid = agent.docker("run", "-d", IMAGE, "sleep", "600").stdout.strip()
    agent.kill(signal.SIGKILL)
    (agent.root / "containers" / cid / "container.json").unlink()
    agent.start()
    assert agent.docker("ps", "-aq").stdout == ""
    assert _runtime_containers(agent) == {} and _monitors(agent) == set()
    assert not (agent.root / "containers" / cid).exists()
    assert not os.path.exists(f"/run/netns/machine-{cid[:12]}")  # its network namespace and veth went too
    assert not os.path.exists(f"/sys/class/net/v0{cid[:11]}")


@pytest.fixture
def small_disk(tmp_path: Path, image_tarball: Path) -> Iterator[Agent]:
    """An agent whose state root is a 32 MB tmpfs (unmounted at the end, whatever happened)."""
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "machine-test-disk", str(root)], check=True)
    try:
        with serving(Agent(tmp_path), image_tarball) as agent:
            yield agent
    finally:
        if os.path.ismount(root):
            subprocess.run(["umount", "-l", str(root)], check=True)


def _fill(agent: Agent) -> Path:
    """Fill the agent's disk to the last byte."""
    filler = agent.root / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def _listed(agent: Agent) -> str:
    """What the agent lists: images, containers, volumes and networks (what does not change with time)."""
    return "\n".join(
        agent.docker(*command).stdout
        for command in (
            ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
            ["ps", "-a", "--format", "{{.ID}} {{.Names}}"],
            ["volume", "ls", "-q"],
            ["network", "ls", "--format", "{{.ID}} {{.Name}}"],
        )
    )


def test_a_full_disk_is_reported_with_the_path_and_leaves_nothing_half_made(
    small_disk: Agent, image_tarball: Path, tmp_path: Path
) -> None:
    agent = small_disk
    agent.docker("run", "-d", "--name", "box", IMAGE, "sleep", "600")
    upload = tmp_path / "upload.bin"
    upload.write_bytes(os.urandom(1 << 20))
    before = _listed(agent)
    filler = _fill(agent)
    for command in (
        ["cp", str(upload), "box:/upload.bin"],
        ["tag", IMAGE, "phantom:1"],
        ["create", "--name", "phantom", IMAGE],
        ["volume", "create", "phantom"],
        ["network", "create", "phantom"],
        ["import", str(image_tarball), "phantom:2"],
    ):
        failed = agent.docker(*command, check=False)
        assert failed.returncode != 0 and "no space left on device" in failed.stderr, (command, failed.stderr)
        assert str(agent.root) in failed.stderr, (command, failed.stderr)
    assert _listed(agent) == before  # nothing listed that is not there
    filler.unlink()
    agent.kill(signal.SIGTERM)
    agent.start()
    assert _listed(agent) == before  # nor after a restart
    agent.docker("tag", IMAGE, "fits:1")
    assert "fits" in agent.docker("images").stdout


def _state(agent: Agent, cid: str) -> tuple[str, int]:
    state = json.loads(agent.docker("inspect", cid).stdout)[0]["State"]
    return state["Status"], state["ExitCode"]


@pytest.mark.parametrize("killed_while_full", [False, True], ids=["saved-later", "agent-killed-while-full"])
def test_exit_codes_are_kept_when_the_disk_is_full(small_disk: Agent, tmp_path: Path, killed_while_full: bool) -> None:
    agent = small_disk
    trigger = tmp_path / "trigger"  # off the full disk: the test tells the container when to exit
    trigger.mkdir()
    cid = agent.docker(
        "run",
        "-d",
        "-v",
        f"{trigger}:/trigger",
        IMAGE,
        "sh",
        "-c",
        "until [ -e /trigger/go ]; do sleep 0.1; done; exit 3",
    ).stdout.strip()
    filler = _fill(agent)
    (trigger / "go").touch()
    assert agent.docker("wait", cid, timeout=120).stdout.strip() == "3"
    assert _state(agent, cid) == ("exited", 3)  # held in memory: the record could not be saved
    if killed_while_full:  # what was in memory is lost: the exit file, on a tmpfs of its own, is still there
        agent.kill(signal.SIGKILL)
        agent.start()
        assert _state(agent, cid) == ("exited", 3)
    filler.unlink()
    record = agent.root / "containers" / cid / "container.json"
    deadline = time.monotonic() + 120
    while json.loads(record.read_text())["State"]["Status"] != "exited" and time.monotonic() < deadline:
        time.sleep(0.2)  # saved again once there is room
    agent.kill(signal.SIGKILL)
    agent.start()
    assert _state(agent, cid) == ("exited", 3)


def test_a_run_step_that_fills_the_disk_says_so(small_disk: Agent, tmp_path: Path) -> None:
    agent = small_disk
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {IMAGE}\nRUN dd if=/dev/zero of=/big bs=1M count=100\n")
    build = agent.docker("build", "-t", "too-big", str(context), check=False, timeout=300)
    assert build.returncode != 0
    assert "returned a non-zero code: 1 (no space left on device" in build.stdout + build.stderr
    assert "too-big" not in agent.docker("images").stdout
    assert agent.docker("ps", "-aq").stdout == ""  # the step's container went with it
