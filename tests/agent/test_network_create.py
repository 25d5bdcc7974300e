"""docker network create options as dockerd takes them: --subnet, --gateway, --ip-range, --aux-address and the
bridge's options honoured; what cannot be (IPv6, other IPAM drivers, other options, overlapping pools) refused."""

from __future__ import annotations

import ipaddress
import json
import subprocess

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def refusal(agent: Agent, *args: str) -> str:
    result = agent.docker("network", "create", *args, check=False)
    assert result.returncode != 0, args
    return result.stderr


def test_subnet_gateway_ip_range_and_bridge_name(agent: Agent) -> None:
    agent.docker(
        "network",
        "create",
        "--subnet",
        "10.78.0.0/16",
        "--gateway",
        "10.78.0.254",
        "--ip-range",
        "10.78.5.0/24",
        "--aux-address",
        "spare=10.78.5.10",
        "-o",
        "com.docker.network.bridge.name=br-ranged",
        "ranged",
    )
    agent.docker("network", "create", "plain-net")
    try:
        info = json.loads(agent.docker("network", "inspect", "ranged").stdout)[0]
        assert info["IPAM"]["Config"] == [
            {
                "Subnet": "10.78.0.0/16",
                "IPRange": "10.78.5.0/24",
                "Gateway": "10.78.0.254",
                "AuxiliaryAddresses": {"spare": "10.78.5.10"},
            }
        ]
        assert info["Options"] == {"com.docker.network.bridge.name": "br-ranged"}
        inside = agent.docker(
            "run", "--rm", "--network", "ranged", IMAGE, "sh", "-c", "ip -4 -o addr show eth0; ip route"
        ).stdout
        address = inside.split(" inet ", 1)[1].split("/", 1)[0]
        assert ipaddress.ip_address(address) in ipaddress.ip_network("10.78.5.0/24") and "/16" in inside
        assert "default via 10.78.0.254" in inside
        bridge = subprocess.run(["ip", "-4", "-o", "addr", "show", "br-ranged"], capture_output=True, text=True)
        assert "inet 10.78.0.254/16" in bridge.stdout

        assert "Pool overlaps with other one on this address space" in refusal(
            agent, "--subnet", "10.78.3.0/24", "overlap"
        )
        outside = refusal(agent, "--subnet", "10.79.0.0/24", "--gateway", "10.80.0.1", "x")
        assert "gateway 10.80.0.1" in outside  # the CLI refuses it before the agent does (unit-tested there)
        assert "it should be 10.79.0.0/24" in refusal(agent, "--subnet", "10.79.0.7/24", "x")
        assert "IPv6" in refusal(agent, "--ipv6", "x")
        assert "IPv6" in refusal(agent, "--subnet", "fd00:1::/64", "x")
        assert "IPAM driver" in refusal(agent, "--ipam-driver", "other", "x")
        assert "not supported" in refusal(agent, "-o", "com.docker.network.driver.mtu=1400", "x")
        assert "already in use" in refusal(agent, "-o", "com.docker.network.bridge.name=br-ranged", "x")
        assert "x" not in agent.docker("network", "ls", "--format", "{{.Name}}").stdout.split()

        no_subnet = agent.docker(
            "run", "--rm", "--network", "plain-net", "--ip", "10.89.9.9", IMAGE, "true", check=False
        )
        assert no_subnet.returncode != 0 and "networks with user configured subnets" in no_subnet.stderr
    finally:
        agent.docker("network", "rm", "ranged", "plain-net", check=False)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "br-ranged" not in links
