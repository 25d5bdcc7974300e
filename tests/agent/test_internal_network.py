"""--internal networks as dockerd isolates them: their containers reach each other and nothing else, and nothing
reaches in, on real bridges and iptables rules in the test's own network namespace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.agent import IMAGE, Agent
from tests.support.sshd import free_port

pytestmark = pytest.mark.containers

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/var/www"]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=True)


@pytest.fixture
def outside() -> Iterator[str]:
    """An address beyond the host, routed to (a namespace behind a veth): what 'the outside' is to containers. It
    routes back to every container subnet, so only the host's firewall keeps a container from reaching it."""
    ns, veth = f"outside-{os.getpid()}", f"vout{os.getpid()}"
    try:
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "addr", "add", "198.18.0.1/30", "dev", veth)
        run("ip", "link", "set", veth, "up")
        run("ip", "-n", ns, "addr", "add", "198.18.0.2/30", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "route", "add", "default", "via", "198.18.0.1")
        yield "198.18.0.2"
    finally:
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def bridge_of(agent: Agent, network: str) -> tuple[str, str]:
    """The network's bridge and subnet."""
    info = json.loads(agent.docker("network", "inspect", network).stdout)[0]
    return "mbr-" + info["Id"][:10], info["IPAM"]["Config"][0]["Subnet"]


def rules() -> str:
    return run("iptables", "-S").stdout + run("iptables", "-t", "nat", "-S").stdout


def pings(agent: Agent, container: str, address: str) -> bool:
    return agent.docker("exec", container, "ping", "-c", "1", "-W", "2", address, check=False).returncode == 0


def test_internal_network_reaches_only_itself(agent: Agent, outside: str) -> None:
    agent.docker("network", "create", "--internal", "closed")
    agent.docker("network", "create", "open")
    bridge, subnet = bridge_of(agent, "closed")
    try:
        for name in ("inner1", "inner2"):
            agent.docker("run", "-d", "--name", name, "--network", "closed", IMAGE, "sleep", "300")
        agent.docker("run", "-d", "--name", "stranger", "--network", "open", IMAGE, "sleep", "300")
        # a route of its own (NET_ADMIN) shows the firewall, not only the missing default route, keeps it in
        agent.docker(
            "run", "-d", "--name", "router", "--cap-add", "NET_ADMIN", "--network", "closed", IMAGE, "sleep", "300"
        )
        gateway = agent.docker(
            "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "closed"
        ).stdout.strip()
        agent.docker("exec", "router", "ip", "route", "add", "default", "via", gateway)
        stranger_ip = agent.docker(
            "inspect", "-f", "{{.NetworkSettings.Networks.open.IPAddress}}", "stranger"
        ).stdout.strip()
        inner_ip = agent.docker("inspect", "-f", "{{.NetworkSettings.Networks.closed.IPAddress}}", "inner1").stdout
        assert pings(agent, "inner1", "inner2") and pings(agent, "inner2", "inner1")
        assert pings(agent, "stranger", outside)  # the outside is reachable from a normal network
        assert "default" not in agent.docker("exec", "inner1", "ip", "route").stdout  # as dockerd: no gateway
        for container in ("inner1", "router"):
            assert not pings(agent, container, outside)
            assert not pings(agent, container, stranger_ip)
        assert not pings(agent, "stranger", inner_ip.strip())
        assert pings(agent, "router", gateway)  # the host's side of its own bridge stays reachable (DNS)
        assert f"-A FORWARD ! -d {subnet} -i {bridge} -j DROP" in rules()
    finally:
        agent.docker("rm", "-f", "inner1", "inner2", "stranger", "router", check=False)
        agent.docker("network", "rm", "closed", "open", check=False)
    # none of its rules is left (other agents' networks on this host may have the same subnet)
    assert [line for line in rules().splitlines() if bridge in line] == []


def test_container_also_on_a_normal_network_reaches_out_through_it(agent: Agent, outside: str) -> None:
    agent.docker("network", "create", "--internal", "closed")
    agent.docker("network", "create", "open")
    port = free_port()
    try:
        agent.docker("run", "-d", "--name", "both", "--network", "closed", "-p", f"{port}:80", IMAGE, *HTTPD)
        assert agent.docker("port", "both").stdout.strip() == ""  # as dockerd: only on internal, nothing published
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
        assert not pings(agent, "both", outside)
        agent.docker("network", "connect", "open", "both")
        open_gateway = agent.docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "open").stdout
        assert f"default via {open_gateway.strip()}" in agent.docker("exec", "both", "ip", "route").stdout
        assert pings(agent, "both", outside)
        agent.docker("restart", "-t", "0", "both")  # at start: the route and the ports on the normal network
        assert pings(agent, "both", outside)
        assert agent.docker("port", "both").stdout.strip() == f"80/tcp -> 0.0.0.0:{port}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.read() == b"hello from busybox httpd\n"
    finally:
        agent.docker("rm", "-f", "both", check=False)
        agent.docker("network", "rm", "closed", "open", check=False)


def test_internal_rules_come_back_after_an_agent_restart(fresh_agent: Agent, outside: str) -> None:
    fresh_agent.docker("network", "create", "--internal", "closed")
    bridge, subnet = bridge_of(fresh_agent, "closed")
    try:
        fresh_agent.docker(
            "run", "-d", "--name", "kept", "--cap-add", "NET_ADMIN", "--network", "closed", IMAGE, "sleep", "300"
        )
        gateway = fresh_agent.docker("inspect", "-f", "{{.NetworkSettings.Networks.closed.Gateway}}", "kept").stdout
        fresh_agent.docker("exec", "kept", "ip", "route", "add", "default", "via", gateway.strip())
        fresh_agent.kill(signal.SIGKILL)
        for rule in (["-i", bridge, "!", "-d", subnet], ["-o", bridge, "!", "-s", subnet]):  # lost while it was down
            run("iptables", "-D", "FORWARD", *rule, "-j", "DROP")
        assert f"! -d {subnet}" not in rules()
        fresh_agent.start()
        assert f"-A FORWARD ! -d {subnet} -i {bridge} -j DROP" in rules()
        assert f"-A FORWARD ! -s {subnet} -o {bridge} -j DROP" in rules()
        assert not pings(fresh_agent, "kept", outside)
    finally:
        fresh_agent.docker("rm", "-f", "kept", check=False)
        fresh_agent.docker("network", "rm", "closed", check=False)
    assert bridge not in rules()
