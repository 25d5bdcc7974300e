"""Addresses: subnets for user networks, the next free address of a network, MACs."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guest.errors import Exhausted
from guest.network import ipam


def network(subnet: str = "10.89.1.0/29", last: str | None = None) -> dict[str, Any]:
    record = {"Name": "n", "Subnet": subnet, "Gateway": ipam.gateway(subnet)}
    if last:
        record["LastAddress"] = last
    return record


def test_free_subnet_skips_taken_ones_and_the_first() -> None:
    assert ipam.free_subnet(set()) == "10.89.1.0/24"  # 10.89.0.0/24 is never handed out
    assert ipam.free_subnet({"10.89.1.0/24", "10.89.2.0/24"}) == "10.89.3.0/24"
    everything = {str(s) for s in ipam.USER_SUBNETS.subnets(new_prefix=24)}
    assert ipam.free_subnet(everything) is None


def test_gateway_and_mac() -> None:
    assert ipam.gateway("10.89.7.0/24") == "10.89.7.1"
    assert ipam.mac("172.30.0.2") == "02:42:ac:1e:00:02"


def test_next_address_goes_on_after_the_last_one_and_wraps() -> None:
    record = network(last="10.89.1.4")
    assert ipam.next_address(record, set()) == "10.89.1.5"
    assert record["LastAddress"] == "10.89.1.5"
    assert ipam.next_address(record, {"10.89.1.6"}) == "10.89.1.2"  # .6 taken, .7 broadcast: wraps past the gateway


def test_a_full_network_is_exhausted() -> None:
    record = network(last="10.89.1.2")
    taken = {f"10.89.1.{i}" for i in range(2, 7)}
    with pytest.raises(Exhausted, match="network n has no free address left"):
        ipam.next_address(record, taken)


@given(st.sets(st.integers(min_value=2, max_value=253), max_size=200), st.integers(min_value=1, max_value=254))
def test_next_address_is_a_free_host_address_of_the_subnet(taken_hosts: set[int], last: int) -> None:
    record = network("10.89.5.0/24", f"10.89.5.{last}")
    taken = {f"10.89.5.{h}" for h in taken_hosts}
    address = ipam.next_address(record, taken)
    subnet = ipaddress.ip_network("10.89.5.0/24")
    assert ipaddress.ip_address(address) in subnet
    assert address not in taken and address not in ("10.89.5.0", "10.89.5.1", "10.89.5.255")
