"""Legacy links (--link) on the default bridge, as dockerd: the linked container's variables, /etc/hosts entries,
links refused to missing or stopped containers, and `docker rm --link`."""

from __future__ import annotations

import json

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def environment(agent: Agent, name: str) -> dict[str, str]:
    lines = agent.docker("exec", name, "env").stdout.splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_links_give_variables_and_names_and_rm_link_removes_them(agent: Agent) -> None:
    agent.docker("network", "create", "links-user")
    try:
        agent.docker("run", "-d", "--name", "linkdb", "--expose", "5432", "-e", "PGUSER=app", IMAGE, "sleep", "600")
        missing = agent.docker("create", "--link", "nosuch:x", IMAGE, "true", check=False)
        assert missing.returncode != 0 and "could not get container for nosuch" in missing.stderr
        agent.docker("run", "-d", "--name", "linkweb", "--link", "linkdb:my-db", IMAGE, "sleep", "600")
        db_ip = agent.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "linkdb").stdout.strip()
        env = environment(agent, "linkweb")
        assert env["MY_DB_PORT"] == f"tcp://{db_ip}:5432"
        assert env["MY_DB_PORT_5432_TCP"] == f"tcp://{db_ip}:5432"
        assert (env["MY_DB_PORT_5432_TCP_ADDR"], env["MY_DB_PORT_5432_TCP_PORT"]) == (db_ip, "5432")
        assert env["MY_DB_PORT_5432_TCP_PROTO"] == "tcp" and env["MY_DB_NAME"] == "/linkweb/my-db"
        assert env["MY_DB_ENV_PGUSER"] == "app" and "MY_DB_ENV_PATH" not in env
        hosts = agent.docker("exec", "linkweb", "cat", "/etc/hosts").stdout
        assert any(line.split()[:2] == [db_ip, "my-db"] and "linkdb" in line.split() for line in hosts.splitlines())
        shown = json.loads(agent.docker("inspect", "linkweb").stdout)[0]["HostConfig"]["Links"]
        assert shown == ["/linkdb:/linkweb/my-db"]

        unknown = agent.docker("rm", "--link", "linkweb/nosuch", check=False)
        assert unknown.returncode != 0 and "No such container: linkweb/nosuch" in unknown.stderr
        own = agent.docker("rm", "--link", "linkdb", check=False)
        assert own.returncode != 0 and "cannot remove the default link name" in own.stderr
        agent.docker("rm", "--link", "/linkweb/my-db")
        assert json.loads(agent.docker("inspect", "linkweb").stdout)[0]["HostConfig"]["Links"] is None
        assert "my-db" not in agent.docker("exec", "linkweb", "cat", "/etc/hosts").stdout
        assert agent.docker("ps", "-q", "-f", "name=linkdb").stdout.strip()  # the linked container stays

        agent.docker("run", "-d", "--name", "linkuser", "--network", "links-user", IMAGE, "sleep", "600")
        on_user = agent.docker(
            "run", "--rm", "--network", "links-user", "--link", "linkuser:peer", IMAGE, "env"
        ).stdout.splitlines()
        assert not [line for line in on_user if line.startswith("PEER_")]  # only a name there, no variables

        agent.docker("stop", "-t", "0", "linkdb")
        stopped = agent.docker("run", "--rm", "--link", "linkdb:db", IMAGE, "true", check=False)
        assert stopped.returncode != 0 and "Cannot link to a non running container: /linkdb AS" in stopped.stderr
    finally:
        agent.docker("rm", "-f", "linkweb", "linkdb", "linkuser", check=False)
        agent.docker("network", "rm", "links-user", check=False)
