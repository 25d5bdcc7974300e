"""Names on networks, from container records: what the embedded DNS answers, /etc/hosts, resolv.conf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guest.containers.record import Container
from guest.network import hosts, names
from guest.network.resolv import container_resolv_conf


def container(tmp_path: Path, name: str, networks: dict[str, Any], **host_config: Any) -> Container:
    cid = (name.encode().hex() * 64)[:64]
    path = tmp_path / cid
    path.mkdir()
    data = {
        "Id": cid,
        "Name": f"/{name}",
        "Config": {"Hostname": cid[:12]},
        "HostConfig": host_config,
        "State": {"Status": "running"},
        "NetworkSettings": {
            "Networks": networks,
            "IPAddress": next((e["IPAddress"] for e in networks.values() if "IPAddress" in e), ""),
        },
    }
    return Container(path, data)


def test_lookup_answers_only_on_a_user_network_the_asker_shares(tmp_path: Path) -> None:
    db = container(tmp_path, "db", {"appnet": {"IPAddress": "10.89.1.2", "Aliases": ["database"]}})
    web = container(tmp_path, "web", {"appnet": {"IPAddress": "10.89.1.3"}, "other": {"IPAddress": "10.89.2.3"}})
    outsider = container(tmp_path, "outsider", {"other": {"IPAddress": "10.89.2.4"}})
    default = container(tmp_path, "plain", {"bridge": {"IPAddress": "172.30.0.9"}})
    everyone = [db, web, outsider, default]
    assert names.lookup(everyone, "10.89.1.3", "db") == "10.89.1.2"
    assert names.lookup(everyone, "10.89.1.3", "database") == "10.89.1.2"
    assert names.lookup(everyone, "10.89.1.3", "db.appnet") == "10.89.1.2"
    assert names.lookup(everyone, "10.89.1.3", db.id[:12]) == "10.89.1.2"
    assert names.lookup(everyone, "10.89.2.4", "db") is None  # not on a network they share
    assert names.lookup(everyone, "10.89.2.4", "web") == "10.89.2.3"
    assert names.lookup(everyone, "172.30.0.9", "web") is None  # the default bridge has no names
    assert names.lookup(everyone, "10.89.1.3", "plain") is None


def test_hosts_file_has_localhost_own_name_links_and_extra_hosts(tmp_path: Path) -> None:
    db = container(tmp_path, "db", {"bridge": {"IPAddress": "172.30.0.5"}})
    app = container(
        tmp_path,
        "app",
        {"bridge": {"IPAddress": "172.30.0.6"}},
        Links=["/db:/app/database"],
        ExtraHosts=["gateway.local:192.168.1.1", "malformed"],
    )
    lines = hosts.content(app, [db, app]).splitlines()
    assert lines == [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"172.30.0.6\t{app.id[:12]}",
        f"172.30.0.5\tdatabase {db.id[:12]} db",  # the alias, the hostname, the name (when not the alias)
        "192.168.1.1\tgateway.local",
    ]
    hosts.write(app, [db, app])
    assert (app.path / "hosts").read_text() == "\n".join(lines) + "\n"


def test_resolv_conf_prefers_dns_options_then_the_embedded_server() -> None:
    assert container_resolv_conf(["1.1.1.1", "9.9.9.9"], "10.89.1.1") == "nameserver 1.1.1.1\nnameserver 9.9.9.9\n"
    assert container_resolv_conf([], "10.89.1.1") == "nameserver 10.89.1.1\noptions ndots:0\n"
    host_file = container_resolv_conf([], None)
    assert "nameserver" in host_file and "nameserver 127." not in host_file
