"""Endpoint settings as dockerd shows them, for running, created and exited containers; --ip and --mac-address."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers

FIELDS = {
    "IPAMConfig",
    "Links",
    "Aliases",
    "MacAddress",
    "DriverOpts",
    "NetworkID",
    "EndpointID",
    "Gateway",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "DNSNames",
}


def networks_of(agent: Agent, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(agent.docker("inspect", name).stdout)[0]["NetworkSettings"]["Networks"]
    return found


def test_endpoint_settings_in_every_state(agent: Agent) -> None:
    agent.docker("network", "create", "--subnet", "10.77.1.0/24", "fields-net")  # --ip needs a subnet given
    try:
        network = json.loads(agent.docker("network", "inspect", "fields-net").stdout)[0]
        assert network["IPAM"]["Options"] is None
        subnet = ipaddress.ip_network(network["IPAM"]["Config"][0]["Subnet"])
        address = str(subnet.network_address + 77)
        agent.docker(
            "create",
            "--name",
            "fielded",
            "--network",
            "fields-net",
            "--network-alias",
            "web",
            "--ip",
            address,
            "--mac-address",
            "02:42:0a:0b:0c:0d",
            IMAGE,
            "sleep",
            "600",
        )
        created = networks_of(agent, "fielded")
        assert set(created) == {"fields-net"} and set(created["fields-net"]) == FIELDS
        assert created["fields-net"]["IPAMConfig"] == {"IPv4Address": address}
        assert created["fields-net"]["Aliases"] == ["web"] and created["fields-net"]["IPAddress"] == ""
        agent.docker("start", "fielded")
        running = networks_of(agent, "fielded")["fields-net"]
        assert set(running) == FIELDS
        assert (running["IPAddress"], running["MacAddress"]) == (address, "02:42:0a:0b:0c:0d")
        assert running["NetworkID"] == network["Id"] and len(running["EndpointID"]) == 64
        assert running["DNSNames"][0] == "fielded" and "web" in running["DNSNames"]
        inside = agent.docker("exec", "fielded", "cat", "/sys/class/net/eth0/address").stdout.strip()
        assert inside == "02:42:0a:0b:0c:0d"
        assert f"inet {address}/" in agent.docker("exec", "fielded", "ip", "-4", "addr", "show", "eth0").stdout
        taken = agent.docker("run", "--rm", "--network", "fields-net", "--ip", address, IMAGE, "true", check=False)
        assert taken.returncode != 0 and "Address already in use" in taken.stderr
        agent.docker("stop", "-t", "0", "fielded")
        exited = networks_of(agent, "fielded")["fields-net"]
        assert set(exited) == FIELDS and exited["IPAddress"] == "" and exited["IPAMConfig"] == {"IPv4Address": address}
    finally:
        agent.docker("rm", "-f", "fielded", check=False)
        agent.docker("network", "rm", "fields-net")


def test_default_bridge_fields_and_refusals(agent: Agent) -> None:
    agent.docker("create", "--name", "plain", IMAGE, "true")
    try:
        created = networks_of(agent, "plain")
        assert set(created) == {"bridge"} and set(created["bridge"]) == FIELDS
    finally:
        agent.docker("rm", "plain")
    on_bridge = agent.docker("create", "--ip", "172.30.9.9", IMAGE, "true", check=False)
    assert on_bridge.returncode != 0 and "supported on user defined networks only" in on_bridge.stderr


def test_connect_with_address_and_alias(agent: Agent) -> None:
    agent.docker("network", "create", "--subnet", "10.77.2.0/24", "connect-net")
    try:
        subnet = ipaddress.ip_network(
            json.loads(agent.docker("network", "inspect", "connect-net").stdout)[0]["IPAM"]["Config"][0]["Subnet"]
        )
        address = str(subnet.network_address + 88)
        agent.docker("run", "-d", "--name", "joined", IMAGE, "sleep", "600")
        agent.docker("network", "connect", "--ip", address, "--alias", "svc", "connect-net", "joined")
        assert f"inet {address}/" in agent.docker("exec", "joined", "ip", "-4", "addr", "show", "eth1").stdout
        live = networks_of(agent, "joined")["connect-net"]
        assert (live["IPAddress"], live["IPAMConfig"], live["Aliases"]) == (address, {"IPv4Address": address}, ["svc"])
        found = agent.docker("run", "--rm", "--network", "connect-net", IMAGE, "ping", "-c", "1", "-W", "5", "svc")
        assert f"({address})" in found.stdout

        agent.docker("run", "-d", "--name", "second", IMAGE, "sleep", "600")
        taken = agent.docker("network", "connect", "--ip", address, "connect-net", "second", check=False)
        assert taken.returncode != 0 and "Address already in use" in taken.stderr
        assert set(networks_of(agent, "second")) == {"bridge"}  # the refused connect left nothing behind
        outside = agent.docker("network", "connect", "--ip", "192.0.2.7", "connect-net", "second", check=False)
        assert outside.returncode != 0 and "no configured subnet or ip-range contain the IP address" in outside.stderr
        on_bridge = agent.docker("network", "connect", "--ip", "172.30.9.9", "bridge", "second", check=False)
        assert on_bridge.returncode != 0 and "supported on user defined networks only" in on_bridge.stderr
        ipv6 = agent.docker("network", "connect", "--ip6", "fd00::7", "connect-net", "second", check=False)
        assert ipv6.returncode != 0 and "IPv6" in ipv6.stderr

        agent.docker("restart", "-t", "0", "joined")  # a connected network is kept, with its address
        assert networks_of(agent, "joined")["connect-net"]["IPAddress"] == address
        agent.docker("network", "disconnect", "connect-net", "joined")
        agent.docker("restart", "-t", "0", "joined")
        assert set(networks_of(agent, "joined")) == {"bridge"}
    finally:
        agent.docker("rm", "-f", "joined", "second", check=False)
        agent.docker("network", "rm", "connect-net")
