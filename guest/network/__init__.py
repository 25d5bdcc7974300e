"""Container networks: Linux bridges with NAT, a network namespace per container with one veth per network,
published ports served by a small proxy in the agent (like Docker's userland proxy), and names.

`bridge` is the default network (machine0, 172.30.0.0/16); user networks get their own bridge and a /24 from
10.89.0.0/16, are isolated from each other by iptables, and resolve their members' names and aliases through an
embedded DNS server on their gateway. Other modes: `none` (loopback only), `host` (no namespace), `container:ID`
(join that container's namespace). Addresses live in the container records, so an agent restart neither reuses
nor loses them.
"""
