"""Malformed requests get a 400 naming the field, never a 500 or a traceback, and change nothing (issue 12, items 7,
8 and 10): raw HTTP over the unix socket, and the docker CLI and docker-py where they can send the bad input."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent import IMAGE, Agent
from tests.support.http import call

pytestmark = pytest.mark.containers

TOO_BIG = "99999999999999999999999"


@pytest.fixture(scope="module")
def target(agent: Agent) -> Iterator[dict[str, str]]:
    """A running container and an exec in it, for the routes that need them."""
    cid = agent.docker("run", "-d", "--name", "bad-input", IMAGE, "sleep", "600").stdout.strip()
    exec_id = call(agent.socket, "POST", f"/containers/{cid}/exec", {"Cmd": ["true"]}).body
    try:
        yield {"c": cid, "e": json.loads(exec_id)["Id"]}
    finally:
        agent.docker("rm", "-f", cid, check=False)


@pytest.fixture
def clean_log(agent: Agent) -> Iterator[None]:
    """Asserts that the agent logs no traceback while the test runs."""
    start = agent.log.stat().st_size
    yield
    with open(agent.log, "rb") as f:
        f.seek(start)
        assert b"Traceback" not in f.read()


def q(value: object) -> str:
    return urllib.parse.quote(value if isinstance(value, str) else json.dumps(value))


CREATE = [  # (body beyond Image, the field the message names)
    ({"Env": "A=1"}, "Env: expected a list of strings"),
    ({"Env": ["=x"]}, "Env[0]"),
    ({"Labels": ["a"]}, "Labels: expected an object"),
    ({"Labels": {"a": 1}}, "Labels.a: expected a string"),
    ({"HostConfig": {"RestartPolicy": "always"}}, "HostConfig.RestartPolicy: expected an object"),
    ({"HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}, "HostConfig.RestartPolicy.Name"),
    ({"HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": "3"}}}, "MaximumRetryCount"),
    ({"HostConfig": {"Binds": "/a:/b"}}, "HostConfig.Binds: expected a list of strings"),
    ({"HostConfig": {"PortBindings": {"80/tcp": "8080"}}}, "HostConfig.PortBindings.80/tcp: expected a list"),
    ({"HostConfig": {"PortBindings": {"eighty": []}}}, "HostConfig.PortBindings: 'eighty' is not a port"),
    ({"HostConfig": {"PortBindings": {"80": [{"HostPort": "x"}]}}}, "HostConfig.PortBindings.80[0].HostPort"),
    ({"HostConfig": {"Mounts": [{"Target": 1}]}}, "HostConfig.Mounts[0].Target: expected a string"),
    ({"HostConfig": {"Memory": 1.5}}, "HostConfig.Memory: expected an integer"),
    ({"HostConfig": {"Memory": 10**30}}, "HostConfig.Memory: expected an integer"),
    ({"HostConfig": []}, "HostConfig: expected an object"),
    ({"Cmd": 5}, "Cmd: expected a string or a list of strings"),
    ({"Cmd": ["echo", None]}, "Cmd[1]: expected a string"),
    ({"Entrypoint": {"a": 1}}, "Entrypoint: expected a string or a list of strings"),
    ({"Tty": "yes"}, "Tty: expected a boolean"),
    ({"ExposedPorts": {"abc": {}}}, "ExposedPorts: 'abc' is not a port"),
    ({"ExposedPorts": ["80/tcp"]}, "ExposedPorts: expected an object"),
    ({"StopSignal": "SIGFOO"}, "StopSignal: 'SIGFOO' is not a signal"),
    ({"StopTimeout": "10"}, "StopTimeout: expected an integer"),
    ({"Healthcheck": {"Test": "true"}}, "Healthcheck.Test: expected a list of strings"),
    ({"NetworkingConfig": {"EndpointsConfig": []}}, "NetworkingConfig.EndpointsConfig: expected an object"),
    ({"NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": "a"}}}}, "EndpointsConfig.bridge.Aliases"),
    ({"Image": 5}, "Image: expected a string"),
]


@pytest.mark.parametrize("extra, field", CREATE, ids=[f for _, f in CREATE])
def test_create_names_the_bad_field(agent: Agent, clean_log: None, extra: dict[str, object], field: str) -> None:
    before = agent.docker("ps", "-aq").stdout
    answer = call(agent.socket, "POST", "/containers/create", {"Image": IMAGE, **extra})
    assert answer.status == 400, answer
    assert field in answer.message
    assert agent.docker("ps", "-aq").stdout == before  # nothing was made


SHORTCUTS = [  # what dockerd accepts beyond the declared types
    {"Cmd": "true"},
    {"Entrypoint": "true", "Cmd": None},
    {"Env": None, "Labels": None, "HostConfig": None, "Volumes": None},
    {"ExposedPorts": {"80": {}, "53/udp": {}}},
    {"HostConfig": {"PortBindings": {"80/tcp": None}, "RestartPolicy": {"Name": ""}}},
    {"StopSignal": "9", "Healthcheck": {"Test": ["NONE"]}},
]


@pytest.mark.parametrize("extra", SHORTCUTS, ids=[json.dumps(s) for s in SHORTCUTS])
def test_accepted_shortcuts_still_create(agent: Agent, clean_log: None, extra: dict[str, object]) -> None:
    answer = call(agent.socket, "POST", "/containers/create", {"Image": IMAGE, "Cmd": ["true"], **extra})
    assert answer.status == 201, answer
    agent.docker("rm", json.loads(answer.body)["Id"])


def test_cmd_as_a_string_runs_as_one_word(agent: Agent, clean_log: None) -> None:
    answer = call(agent.socket, "POST", "/containers/create", {"Image": IMAGE, "Cmd": "true"})
    cid = json.loads(answer.body)["Id"]
    try:
        assert json.loads(agent.docker("inspect", cid).stdout)[0]["Config"]["Cmd"] == ["true"]
        agent.docker("start", "-a", cid)
    finally:
        agent.docker("rm", "-f", cid)


REQUESTS = [  # (method, path with {c} and {e}, JSON body or None, status, words of the message)
    ("GET", "/containers/json?filters=" + q({"status": 5}), None, 400, "filters.status"),
    ("GET", "/containers/json?filters=" + q([1]), None, 400, "filters: expected an object"),
    ("GET", "/containers/json?filters=" + q("{"), None, 400, "filters: invalid JSON"),
    ("GET", "/containers/json?limit=abc", None, 400, "limit: expected an integer"),
    ("GET", "/containers/{c}/logs?stdout=1&since=abc", None, 400, "since: expected a unix time"),
    ("GET", "/containers/{c}/logs?stdout=1&until=1e400", None, 400, "until: expected a unix time"),
    ("GET", "/containers/{c}/logs?stdout=1&tail=abc", None, 400, "tail"),
    ("GET", "/events?since=1e400", None, 400, "since: expected a unix time"),
    ("GET", "/events?until=nan", None, 400, "until"),
    ("GET", "/events?filters=" + q([1]), None, 400, "filters: expected an object"),
    ("POST", "/containers/{c}/stop?t=" + TOO_BIG, None, 400, "t: expected an integer"),
    ("POST", "/containers/{c}/restart?t=abc", None, 400, "t: expected an integer"),
    ("POST", "/containers/{c}/stop?signal=SIGFOO", None, 400, "signal: 'SIGFOO' is not a signal"),
    ("POST", "/containers/{c}/kill?signal=99", None, 400, "signal: '99' is not a signal"),
    ("POST", "/containers/{c}/kill?signal=0", None, 400, "signal"),
    ("POST", "/containers/{c}/resize?h=-1&w=80", None, 400, "h: expected an integer from 0 to 65535"),
    ("POST", "/exec/{e}/resize?h=-1", None, 400, "h: expected an integer from 0 to 65535"),
    ("POST", "/exec/{e}/resize?w=" + TOO_BIG, None, 400, "w: expected an integer"),
    ("POST", "/exec/{e}/start", [], 400, "expected an object"),
    ("POST", "/exec/{e}/start", {"Detach": "yes"}, 400, "Detach: expected a boolean"),
    ("POST", "/containers/{c}/exec", {"Cmd": "true"}, 400, "Cmd: expected a list of strings"),
    ("POST", "/containers/{c}/exec", {"Cmd": ["true"], "Env": {"A": "1"}}, 400, "Env: expected a list"),
    ("POST", "/networks/create", {"Name": ["x"]}, 400, "Name: expected a string"),
    ("POST", "/networks/create", {"Name": "n1", "Labels": "a=b"}, 400, "Labels: expected an object"),
    ("POST", "/networks/create", {"Name": "n1", "Internal": "no"}, 400, "Internal: expected a boolean"),
    ("POST", "/networks/create", {"Name": "n1", "IPAM": {"Config": {}}}, 400, "IPAM.Config: expected a list"),
    ("POST", "/networks/bridge/connect", {"Container": 5}, 400, "Container: expected a string"),
    ("POST", "/networks/bridge/disconnect", [], 400, "expected an object"),
    ("POST", "/volumes/create", {"Name": "v1", "Labels": ["a"]}, 400, "Labels: expected an object"),
    ("POST", "/volumes/create", {"Name": 5}, 400, "Name: expected a string"),
    ("POST", "/volumes/create", {"DriverOpts": {"o": 1}}, 400, "DriverOpts.o: expected a string"),
    ("POST", "/auth", {"username": 1}, 400, "username: expected a string"),
    ("GET", "/images/json?filters=" + q({"dangling": 1}), None, 400, "filters.dangling"),
    ("POST", "/images/prune?filters=" + q([]), None, 400, "filters: expected an object"),
    ("POST", "/volumes/prune?filters=" + q(3), None, 400, "filters: expected an object"),
    ("POST", "/networks/prune?filters=x", None, 400, "filters: invalid JSON"),
    ("POST", "/containers/prune?filters=" + q({"label": [[1]]}), None, 400, "filters.label"),
    ("GET", "/networks?filters=" + q({"name": {"x": "yes"}}), None, 400, "filters.name"),
    ("GET", "/volumes?filters=" + q([1]), None, 400, "filters: expected an object"),
    ("POST", "/build?buildargs=" + q([1]), None, 400, "buildargs: expected an object"),
    ("POST", "/build?labels=" + q({"a": 1}), None, 400, "labels.a: expected a string"),
    ("GET", "/images/get?names=nosuch", None, 404, "nosuch"),
    ("GET", "/images/nosuch/get", None, 404, "nosuch"),
    ("POST", "/containers/{c}/wait?condition=soon", None, 400, "condition"),
    ("POST", "/containers/create", b"[]", 400, "expected an object"),
    ("POST", "/containers/create", b"{oops", 400, "invalid JSON"),
    ("POST", "/containers/create", b"[" * 100_000, 400, "nested too deeply"),
    ("GET", "/containers/json?filters=" + q("[" * 5000), None, 400, "filters: invalid JSON"),
]


@pytest.mark.parametrize("method, path, body, status, words", REQUESTS, ids=[f"{r[0]} {r[1][:80]}" for r in REQUESTS])
def test_bad_requests_are_refused(
    agent: Agent,
    target: dict[str, str],
    clean_log: None,
    method: str,
    path: str,
    body: object,
    status: int,
    words: str,
) -> None:
    raw = body if isinstance(body, bytes) else None
    answer = call(agent.socket, method, path.format(**target), None if raw else body, raw=raw)
    assert answer.status == status, answer
    assert answer.headers.get("Transfer-Encoding") != "chunked"  # refused before any stream began
    assert words in answer.message


def test_stop_with_a_bad_signal_does_nothing(agent: Agent, target: dict[str, str], clean_log: None) -> None:
    start = time.monotonic()
    answer = call(agent.socket, "POST", f"/containers/{target['c']}/stop?signal=SIGFOO&t=10")
    assert answer.status == 400 and time.monotonic() - start < 5
    assert json.loads(agent.docker("inspect", target["c"]).stdout)[0]["State"]["Running"]


def test_cli_and_docker_py_get_the_message(agent: Agent, target: dict[str, str], clean_log: None) -> None:
    import docker

    result = agent.docker("kill", "-s", "SIGFOO", target["c"], check=False)
    assert result.returncode != 0 and "is not a signal" in result.stderr
    saved = agent.docker("save", "nosuch", check=False)
    assert saved.returncode != 0 and "No such image" in saved.stderr and "EOF" not in saved.stderr
    client = docker.DockerClient(base_url=f"unix://{agent.socket}", version="auto")
    try:
        with pytest.raises(docker.errors.APIError) as caught:
            client.api.create_container(IMAGE, "true", host_config={"RestartPolicy": "always"})
        assert caught.value.status_code == 400 and "HostConfig.RestartPolicy: expected an object" in str(caught.value)
        with pytest.raises(docker.errors.APIError) as caught:
            client.api.create_container(IMAGE, 5)  # type: ignore[arg-type]
        assert caught.value.status_code == 400 and "Cmd: expected a string or a list of strings" in str(caught.value)
        with pytest.raises(docker.errors.APIError) as caught:
            client.networks.create(["x"])  # type: ignore[arg-type]
        assert caught.value.status_code == 400 and "Name: expected a string" in str(caught.value)
    finally:
        client.close()


def test_events_stream_refuses_bad_filters_before_it_starts(agent: Agent, clean_log: None) -> None:
    result = agent.docker("events", "--since", "0", "--until", "1", "--filter", "type=container", check=False)
    assert result.returncode == 0  # good filters still stream (and end at until)
    answer = call(agent.socket, "GET", "/events?until=1&filters=" + q({"type": {"container": 1}}))
    assert answer.status == 400 and "filters.type" in answer.message


def test_a_bad_network_name_is_never_stored(agent: Agent, clean_log: None) -> None:
    assert call(agent.socket, "POST", "/networks/create", {"Name": ["x"]}).status == 400
    assert call(agent.socket, "POST", "/networks/create", {"Name": {"a": 1}, "Driver": 5}).status == 400
    assert "bridge" in agent.docker("network", "ls").stdout


def test_unreadable_records_are_skipped_with_a_warning(fresh_agent: Agent, tmp_path: Path) -> None:
    """A network, volume, container or image record that cannot be read never breaks listing or start-up."""
    a = fresh_agent
    a.docker("network", "create", "good-net")
    a.docker("volume", "create", "good-vol")
    a.docker("create", "--name", "good-ctr", IMAGE, "true")
    a.kill()
    root = a.root
    (root / "networks" / "bad.json").write_text(json.dumps({"Id": "bad", "Name": ["x"]}))
    (root / "networks" / "worse.json").write_text("[1, 2")
    (root / "volumes" / "bad-vol").mkdir()
    (root / "volumes" / "bad-vol" / "meta.json").write_text("[]")
    bad_ctr = root / "containers" / ("b" * 64)
    bad_ctr.mkdir()
    (bad_ctr / "container.json").write_text(json.dumps({"Id": "b" * 64, "Name": 5, "Config": []}))
    (root / "images" / "images" / ("c" * 64 + ".json")).write_text('{"rootfs": []}')
    try:
        a.start()
        assert "good-net" in a.docker("network", "ls").stdout
        assert "good-vol" in a.docker("volume", "ls").stdout
        assert "good-ctr" in a.docker("ps", "-a").stdout
        assert IMAGE.split(":")[0] in a.docker("images").stdout
        log = a.log.read_text()
        assert "Traceback" not in log
        assert "bad.json" in log and "worse.json" in log and "b" * 64 in log and "c" * 64 in log
    finally:
        for bad in ("bad.json", "worse.json"):  # the harness's cleanup reads the network records
            (root / "networks" / bad).unlink()


def _with_config_change(source: Path, target: Path, tag: str, change: dict[str, object]) -> None:
    """A copy of a `docker save` archive whose image config has `change` merged into its "config", tagged `tag`."""
    with tarfile.open(source) as src, tarfile.open(target, "w") as dst:
        manifest = json.loads(src.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(src.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
        config["config"].update(change)
        data = json.dumps(config).encode()
        manifest[0].update(Config=hashlib.sha256(data).hexdigest() + ".json", RepoTags=[tag])
        for member in src.getmembers():
            if member.name.endswith("layer.tar") or member.isdir():
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for name, content in ((manifest[0]["Config"], data), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            dst.addfile(info, io.BytesIO(content))


def test_an_image_with_a_bad_port_never_breaks_ps(
    agent: Agent, image_tarball: Path, tmp_path: Path, clean_log: None
) -> None:
    """An image stored with `EXPOSE abc` (loaded, or built before ports were checked) cannot break listing."""
    _with_config_change(image_tarball, tmp_path / "bad.tar", "badport:1", {"ExposedPorts": {"abc": {}, "80/tcp": {}}})
    agent.docker("load", "-i", str(tmp_path / "bad.tar"))
    try:
        agent.docker("run", "-d", "--name", "badport", "-P", "badport:1", "sleep", "60")
        rows = agent.docker("ps", "--format", "{{.Names}} {{.Ports}}").stdout
        assert "badport" in rows and "80/tcp" in rows and "abc" not in rows
    finally:
        agent.docker("rm", "-f", "badport", check=False)
        agent.docker("rmi", "badport:1", check=False)


def test_bad_ports_and_signals_are_refused_at_build_and_import(agent: Agent, tmp_path: Path, clean_log: None) -> None:
    for line, words in (("EXPOSE 80 abc", "'abc' is not a port"), ("STOPSIGNAL SIGFOO", "'SIGFOO' is not a signal")):
        (tmp_path / "Dockerfile").write_text(f"FROM {IMAGE}\n{line}\n")
        result = agent.docker("build", str(tmp_path), check=False)
        assert result.returncode != 0 and f"line 2: {line.split()[0]}: {words}" in result.stderr + result.stdout
        imported = agent.docker("import", "--change", line, str(tmp_path / "Dockerfile"), check=False)
        assert imported.returncode != 0 and words in imported.stderr
