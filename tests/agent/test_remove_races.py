"""`rm -f` racing a start (a client's, or the restart a policy gives) leaves nothing of the container behind: no
network namespace, no veth, no process. The start either finishes before the removal, which then kills it,
or finds the container gone."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def leftovers(agent: Agent, ids: list[str]) -> list[str]:
    """What is left on the host of the containers `ids`: namespaces, veths, processes naming their folders."""
    found = [f"netns {cid[:12]}" for cid in ids if Path(f"/run/netns/machine-{cid[:12]}").exists()]
    links = os.listdir("/sys/class/net")
    found += [f"veth {link}" for cid in ids for link in links if link[1:] == cid[:11] and link.startswith("v")]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            found += [f"process {entry.name}" for cid in ids if f"{agent.root}/containers/{cid}".encode() in cmdline]
    return found


def race(*actions: Any) -> list[BaseException]:
    """Run `actions` at once, each in a thread; the exceptions they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(actions))

    def run(action: Any) -> None:
        barrier.wait()
        try:
            action()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return errors


def test_rm_f_racing_docker_start_leaves_nothing(agent: Agent, client: Any) -> None:
    ids = [client.api.create_container(IMAGE, ["sleep", "300"])["Id"] for _ in range(8)]
    for cid in ids:
        race(lambda cid=cid: client.api.start(cid), lambda cid=cid: client.api.remove_container(cid, force=True))
    remaining = {c["Id"] for c in client.api.containers(all=True)} & set(ids)
    for cid in remaining:  # the start came after the removal's kill: removal again leaves nothing either
        client.api.remove_container(cid, force=True)
    assert leftovers(agent, ids) == []


def test_rm_f_racing_a_pending_restart_leaves_nothing(agent: Agent, client: Any) -> None:
    """A container that exits at once under --restart always is removed at moments spread over its restarts."""
    ids = []
    for delay in (0, 0.05, 0.1, 0.15, 0.2, 0.3):
        cid = client.api.create_container(
            IMAGE, ["sh", "-c", "exit 1"], host_config=client.api.create_host_config(restart_policy={"Name": "always"})
        )["Id"]
        ids.append(cid)
        client.api.start(cid)
        time.sleep(delay)
        client.api.remove_container(cid, force=True)
    assert not {c["Id"] for c in client.api.containers(all=True)} & set(ids)
    time.sleep(1)  # a restart that was already under way when the removal came has finished by now
    assert leftovers(agent, ids) == []
