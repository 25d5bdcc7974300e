"""The bridge network and published ports, on real namespaces, veths and a bridge on this host."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.support import http
from tests.support.agent import IMAGE, Agent, cleanup_state

pytestmark = pytest.mark.containers

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/var/www"]


def leftovers(cid: str) -> str:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return "\n".join(line for line in (links + namespaces).splitlines() if cid[:10] in line)


def test_published_port_and_container_to_container(agent: Agent) -> None:
    cid = agent.docker("run", "-d", "--name", "web", "-p", "18081:80", IMAGE, *HTTPD).stdout.strip()
    try:
        assert http.page(18081) == b"hello from busybox httpd\n"
        assert agent.docker("port", "web").stdout.strip() == "80/tcp -> 0.0.0.0:18081"
        address = agent.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").stdout.strip()
        assert address.startswith("172.30.")
        other = agent.docker("run", "--rm", IMAGE, "wget", "-qO-", f"http://{address}/")
        assert other.stdout == "hello from busybox httpd\n"
        taken = agent.docker("run", "-d", "--name", "clash", "-p", "18081:80", IMAGE, *HTTPD, check=False)
        assert taken.returncode != 0 and "port is already allocated" in taken.stderr
        agent.docker("rm", "-f", "clash")
    finally:
        agent.docker("rm", "-f", "web")
    assert leftovers(cid) == ""
    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:18081/", timeout=2)


def test_publish_all_picks_free_ports(agent: Agent) -> None:
    agent.docker("run", "-d", "--name", "random", "--expose", "80", "-P", IMAGE, *HTTPD)
    try:
        mapping = agent.docker("port", "random", "80").stdout.strip()
        port = int(mapping.rsplit(":", 1)[1])
        assert port > 1024 and http.page(port) == b"hello from busybox httpd\n"
    finally:
        agent.docker("rm", "-f", "random")


def test_none_and_host_modes(agent: Agent) -> None:
    none = agent.docker("run", "--rm", "--network", "none", IMAGE, "cat", "/proc/net/dev").stdout
    assert "lo:" in none and "eth0" not in none
    host = agent.docker("run", "--rm", "--network", "host", IMAGE, "cat", "/proc/net/dev").stdout
    assert "machine0" in host


def test_ports_come_back_after_an_agent_restart(fresh_agent: Agent) -> None:
    fresh_agent.docker("run", "-d", "--name", "steady", "-p", "18082:80", IMAGE, *HTTPD)
    assert http.page(18082) == b"hello from busybox httpd\n"
    fresh_agent.kill(signal.SIGKILL)
    fresh_agent.start()
    assert http.page(18082) == b"hello from busybox httpd\n"
    fresh_agent.docker("rm", "-f", "steady")


def test_user_networks_names_aliases_and_isolation(agent: Agent) -> None:
    agent.docker("network", "create", "appnet")
    agent.docker("network", "create", "othernet")
    bridges = [  # the agent names a user network's bridge after its ID (its Options are only the user's, {})
        "mbr-" + json.loads(agent.docker("network", "inspect", n).stdout)[0]["Id"][:10] for n in ("appnet", "othernet")
    ]
    ids: list[str] = []
    try:
        assert {"appnet", "othernet", "bridge", "host", "none"} <= set(
            agent.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
        )
        ids.append(
            agent.docker(
                "run", "-d", "--name", "db", "--network", "appnet", "--network-alias", "database", IMAGE, *HTTPD
            ).stdout.strip()
        )
        by_name = agent.docker("run", "--rm", "--network", "appnet", IMAGE, "wget", "-qO-", "http://db/")
        assert by_name.stdout == "hello from busybox httpd\n"
        resolv_conf, hosts = agent.docker(
            "run", "--rm", "--network", "appnet", IMAGE, "sh", "-c", "cat /etc/resolv.conf; echo ---; cat /etc/hosts"
        ).stdout.split("---\n")
        assert "nameserver 10.89." in resolv_conf
        names = {name for line in hosts.splitlines() for name in line.split()[1:]}
        assert not names & {"db", "database"}  # the names come from the agent's DNS, not from /etc/hosts
        by_alias = agent.docker("run", "--rm", "--network", "appnet", IMAGE, "wget", "-qO-", "http://database/")
        assert by_alias.stdout == "hello from busybox httpd\n"
        db_ip = agent.docker("inspect", "-f", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "db").stdout.strip()
        assert db_ip.startswith("10.89.")
        outsider = agent.docker(
            "run",
            "--rm",
            "--network",
            "othernet",
            IMAGE,
            "sh",
            "-c",
            f"wget -T 2 -qO- http://db/ || echo no-name; wget -T 2 -qO- http://{db_ip}/ || echo no-route",
            check=False,
        )
        assert "no-name" in outsider.stdout and "no-route" in outsider.stdout
        info = json.loads(agent.docker("network", "inspect", "appnet").stdout)[0]
        assert [c["Name"] for c in info["Containers"].values()] == ["db"]
        busy = agent.docker("network", "rm", "appnet", check=False)
        assert busy.returncode != 0 and "active endpoints" in busy.stderr
        ids.append(
            agent.docker("run", "-d", "--name", "joiner", "--network", "othernet", IMAGE, "sleep", "60").stdout.strip()
        )
        agent.docker("network", "connect", "appnet", "joiner")
        assert agent.docker("exec", "joiner", "wget", "-qO-", "http://db/").stdout == "hello from busybox httpd\n"
        agent.docker("network", "disconnect", "appnet", "joiner")
        assert agent.docker("exec", "joiner", "wget", "-T", "2", "-qO-", "http://db/", check=False).returncode != 0
    finally:
        agent.docker("rm", "-f", "db", "joiner", check=False)
        agent.docker("network", "rm", "appnet", "othernet", check=False)
    assert "appnet" not in agent.docker("network", "ls").stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not [b for b in bridges if b in links]
    assert all(leftovers(cid) == "" for cid in ids)


def test_shutdown_with_cleanup_leaves_nothing_behind(tmp_path: Path, image_tarball: Path) -> None:

    agent = Agent(tmp_path, ("--cleanup",))
    try:
        agent.start()
        agent.docker("load", "-i", str(image_tarball))
        agent.docker("network", "create", "tidy")
        bridge = "mbr-" + json.loads(agent.docker("network", "inspect", "tidy").stdout)[0]["Id"][:10]
        cid = agent.docker("run", "-d", "--network", "tidy", "-p", "18083:80", IMAGE, *HTTPD).stdout.strip()
        assert http.page(18083)
        agent.kill(signal.SIGTERM)
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        assert bridge not in links and leftovers(cid) == "" and bridge not in rules
        with pytest.raises(OSError):
            urllib.request.urlopen("http://127.0.0.1:18083/", timeout=2)
    finally:
        agent.kill()
        cleanup_state(agent.root)


def test_udp_port_publishing(agent: Agent) -> None:
    import socket

    # the busybox image has no UDP server: borrow this host's python3 through read-only binds
    echo = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9999))\n"
        "while True:\n    data, peer = s.recvfrom(2048); s.sendto(data.upper(), peer)"
    )
    binds = [a for d in ("/usr", "/lib", "/lib64") if Path(d).exists() for a in ("-v", f"{d}:{d}:ro")]
    agent.docker(
        "run", "-d", "--name", "udpecho", "-p", "18084:9999/udp", *binds, IMAGE, "/usr/bin/python3", "-c", echo
    )
    try:
        assert agent.docker("port", "udpecho").stdout.strip() == "9999/udp -> 0.0.0.0:18084"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1)
            reply = b""
            for _ in range(20):  # the server may still be starting
                s.sendto(b"ping", ("127.0.0.1", 18084))
                try:
                    reply = s.recv(100)
                    break
                except OSError:
                    continue
        assert reply == b"PING"
    finally:
        agent.docker("rm", "-f", "udpecho")
