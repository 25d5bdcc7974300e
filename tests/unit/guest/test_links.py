"""Legacy links: their parsing and the variables a linking container gets, as dockerd's daemon/links."""

from __future__ import annotations

import pytest

from guest.errors import InvalidInput
from guest.network import links


def test_parse_takes_the_cli_and_the_stored_forms() -> None:
    assert links.parse("db") == ("db", "db")
    assert links.parse("db:database") == ("db", "database")
    assert links.parse("/db:/web/database") == ("db", "database")
    for bad in ("", "a:b:c"):
        with pytest.raises(InvalidInput):
            links.parse(bad)


def test_variables_of_one_port_and_the_linked_environment() -> None:
    config = {"ExposedPorts": {"5432/tcp": {}}, "Env": ["PATH=/bin", "HOME=/root", "PGUSER=app", "EMPTY=", "BARE"]}
    assert links.variables("/web/my-db", "172.30.0.5", config) == [
        "MY_DB_PORT=tcp://172.30.0.5:5432",
        "MY_DB_PORT_5432_TCP=tcp://172.30.0.5:5432",
        "MY_DB_PORT_5432_TCP_ADDR=172.30.0.5",
        "MY_DB_PORT_5432_TCP_PORT=5432",
        "MY_DB_PORT_5432_TCP_PROTO=tcp",
        "MY_DB_NAME=/web/my-db",
        "MY_DB_ENV_PGUSER=app",
        "MY_DB_ENV_EMPTY=",
    ]


def test_variables_of_port_ranges_tcp_first() -> None:
    config = {"ExposedPorts": {"53/udp": {}, "8001/tcp": {}, "8000/tcp": {}, "8002/tcp": {}, "9000/tcp": {}}}
    found = links.variables("/web/svc", "10.0.0.2", config)
    assert found[0] == "SVC_PORT=tcp://10.0.0.2:8000"
    assert [v for v in found if "_START" in v or "_END" in v] == [
        "SVC_PORT_8000_TCP_START=tcp://10.0.0.2:8000",
        "SVC_PORT_8000_TCP_PORT_START=8000",
        "SVC_PORT_8000_TCP_END=tcp://10.0.0.2:8002",
        "SVC_PORT_8000_TCP_PORT_END=8002",
    ]
    assert [v.split("=")[0] for v in found if v.endswith("_PROTO=tcp") or v.endswith("_PROTO=udp")] == [
        "SVC_PORT_8000_TCP_PROTO",
        "SVC_PORT_8001_TCP_PROTO",
        "SVC_PORT_8002_TCP_PROTO",
        "SVC_PORT_9000_TCP_PROTO",
        "SVC_PORT_53_UDP_PROTO",
    ]
    assert links.variables("/web/bare", "10.0.0.3", {}) == ["BARE_NAME=/web/bare"]
