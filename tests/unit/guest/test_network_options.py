"""Network create options: the IPAM config checked as dockerd's validateIpamConfig, addresses from the ip-range."""

from __future__ import annotations

import ipaddress

import pytest

from guest.errors import InvalidInput, Unsupported
from guest.network import ipam, options


def test_ipam_config_is_kept_as_given_and_checked() -> None:
    config = {"Subnet": "10.5.0.0/16", "IPRange": "10.5.1.0/24", "Gateway": "10.5.0.1"}
    assert options.ipam({"IPAM": {"Driver": "default", "Config": [config]}}) == config
    assert options.ipam({"IPAM": {"Config": []}}) is None
    for bad in (
        {"Subnet": "10.5.0.0/33"},
        {"Subnet": "10.5.0.1/16"},
        {"Subnet": "10.5.0.0/16", "IPRange": "10.6.0.0/24"},
        {"Subnet": "10.5.0.0/16", "Gateway": "10.6.0.1"},
        {"Subnet": "10.5.0.0/16", "AuxiliaryAddresses": {"a": "nonsense"}},
    ):
        with pytest.raises(InvalidInput):
            options.ipam({"IPAM": {"Config": [bad]}})
    for unsupported in (
        {"EnableIPv6": True},
        {"IPAM": {"Driver": "dhcp"}},
        {"IPAM": {"Config": [{"Subnet": "fd00::/64"}]}},
    ):
        with pytest.raises(Unsupported):
            options.ipam(unsupported)


def test_driver_options_honoured_or_refused() -> None:
    assert options.driver_options({"Options": {options.BRIDGE_NAME: "br0"}}) == {options.BRIDGE_NAME: "br0"}
    for bad in ({options.BRIDGE_NAME: "x" * 16}, {"com.docker.network.driver.mtu": "1400"}, {options.ICC: "false"}):
        with pytest.raises(InvalidInput):
            options.driver_options({"Options": bad})


def test_addresses_come_from_the_ip_range_without_reserved_ones() -> None:
    record = {
        "Name": "n",
        "Subnet": "10.5.0.0/16",
        "Gateway": "10.5.1.1",
        "IPAMConfig": {"Subnet": "10.5.0.0/16", "IPRange": "10.5.1.0/30", "AuxiliaryAddresses": {"a": "10.5.1.2"}},
    }
    taken: set[str] = set()
    for _ in range(2):  # 10.5.1.0 (within the subnet, not its network address) and 10.5.1.3
        taken.add(ipam.next_address(record, taken))
    assert taken == {"10.5.1.0", "10.5.1.3"}
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.5.1.0/30") for a in taken)
    assert ipam.overlapping("10.5.3.0/24", {"10.5.0.0/16"}) and not ipam.overlapping("10.6.0.0/24", {"10.5.0.0/16"})
    assert ipam.free_subnet({"10.89.0.0/23"}) == "10.89.2.0/24"
