"""Fuzz every route the agent implements with requests that schemathesis derives from the Engine API's OpenAPI
document (moby's api/swagger.yaml for API 1.45, vendored in data/): requests of the declared shapes and requests
that break them, against a real agent on its real socket. No answer may be a 5xx and the agent's log may show no
traceback (issue 12, "Done means").

Path parameters are either generated or those of a small world the test keeps alive (a running container, an exec
in it, an image, a volume, a network), so that requests reach past the lookups. The number of examples per route is
fixed and generation derandomized: the same requests every run (AGENT_FUZZ_EXAMPLES changes the number).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.support.agent import IMAGE, Agent, serving
from tests.support.http import call

pytestmark = pytest.mark.containers

SPEC = Path(__file__).parent / "data" / "engine-api-1.45.yaml"
EXAMPLES = int(os.environ.get("AGENT_FUZZ_EXAMPLES", "10"))  # per route and per mode (valid, invalid)
NOT_FUZZED = {("POST", "/containers/{id}/attach"): "hijacks the connection for an interactive session"}
REGISTRY_ROUTES = {
    "/auth",
    "/images/create",
    "/images/{name}/push",
    "/distribution/{name}/json",
}  # no registry here: 502 is the right answer
SWARM_ROUTES = ("/swarm", "/services", "/nodes", "/tasks", "/secrets", "/configs")  # not a swarm manager: 503
WORLD = {"container": "fuzz-ctr", "image": "fuzz-image:1", "volume": "fuzz-vol", "network": "fuzz-net"}
SCRIPT = 'trap "exit 0" TERM; while :; do sleep 1; done'


@schemathesis.serializer("application/x-tar")
def _tar(ctx: Any, value: Any) -> Any:
    """Tar bodies go as generated (random bytes: archives that are not archives); send() encodes them."""
    return value


def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_path(str(SPEC))
    return sorted((r.ok() for r in schema.get_all_operations()), key=lambda o: (o.path, o.method))


OPERATIONS = _operations()


class World:
    """The objects path parameters can name, made again whenever a request removed or stopped them."""

    def __init__(self, agent: Agent):
        self.agent = agent
        self.ids: dict[str, str] = {}

    def _get(self, path: str) -> Any:
        answer = call(self.agent.socket, "GET", path)
        return json.loads(answer.body) if answer.status == 200 else None

    def ensure(self) -> dict[str, str]:
        a = self.agent
        image = self._get(f"/images/{IMAGE}/json")
        if self._get(f"/images/{WORLD['image']}/json") is None:
            a.docker("tag", image["Id"], WORLD["image"])
        state = (self._get(f"/containers/{WORLD['container']}/json") or {}).get("State")
        if state is None:
            a.docker("rm", "-f", WORLD["container"], check=False)
            a.docker("create", "--name", WORLD["container"], IMAGE, "sh", "-c", SCRIPT)
        elif state["Paused"]:
            a.docker("unpause", WORLD["container"], check=False)
        if not (state or {}).get("Running") or state["Paused"]:
            a.docker("start", WORLD["container"], check=False)
        if self._get(f"/volumes/{WORLD['volume']}") is None:
            a.docker("volume", "create", WORLD["volume"])
        network = self._get(f"/networks/{WORLD['network']}") or {}
        if not network:
            a.docker("network", "create", WORLD["network"])
        exec_state = self._get(f"/exec/{self.ids.get('exec', 'none')}/json")
        if exec_state is None or exec_state.get("Running") or exec_state.get("ExitCode") is not None:
            answer = call(a.socket, "POST", f"/containers/{WORLD['container']}/exec", {"Cmd": ["true"]})
            self.ids["exec"] = json.loads(answer.body).get("Id", "none") if answer.status == 201 else "none"
        self.ids.update(
            container=WORLD["container"],
            image=WORLD["image"],
            volume=WORLD["volume"],
            network=(self._get(f"/networks/{WORLD['network']}") or {}).get("Id", WORLD["network"]),
        )
        return self.ids

    def parameter(self, path: str, name: str) -> str | None:
        """The world's value for path parameter `name` of `path`."""
        kind = {"containers": "container", "exec": "exec", "images": "image", "volumes": "volume"}.get(
            path.split("/")[1], "network" if path.startswith("/networks") else ""
        )
        return self.ids.get(kind) if name in ("id", "name") else None


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, image_tarball: Path) -> Iterator[Agent]:
    """An agent of this module's own: what the fuzzing leaves (random tags, volumes, networks) reaches no other test."""
    a = Agent(tmp_path_factory.mktemp("fuzz"))
    with serving(a, image_tarball):
        yield a


@pytest.fixture(scope="module")
def world(agent: Agent) -> World:
    w = World(agent)
    w.ensure()
    return w


def _query(case: Any) -> str:
    pairs: list[tuple[str, str]] = []
    for name, value in (case.query or {}).items():
        for item in value if isinstance(value, list) else [value]:
            text = json.dumps(item) if isinstance(item, (dict, list, bool)) or item is None else str(item)
            pairs.append((name, text.strip('"') if isinstance(item, str) else text))
    return urllib.parse.urlencode(pairs)


def _body(case: Any) -> bytes | None:
    body = getattr(case.body, "data", case.body)  # schemathesis wraps binary bodies
    if type(body).__name__ == "NotSet":
        return None
    if isinstance(body, bytes):
        return body
    if case.media_type == "application/json" or not isinstance(body, str):
        return json.dumps(body).encode()
    return body.encode(errors="replace")


def _headers(case: Any) -> dict[str, str]:
    headers = {"Content-Type": case.media_type} if case.media_type else {}
    for name, value in (case.headers or {}).items():
        text = str(value)
        if text.isprintable() and text.isascii() and name.isascii() and name.isprintable() and ":" not in name:
            headers[name] = text
    return headers


def send(path: Path, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, str]:
    """One request; (status, message). Streamed and hijacked answers are not read past their status line. The
    answer is read even when the agent refused the request before reading all of its body (a broken pipe)."""
    body = body or b""
    head = f"{method} {url} HTTP/1.1\r\nHost: agent\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(20)
        sock.connect(str(path))
        try:
            sock.sendall(head.encode() + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(sock, method=method)
        try:
            response.begin()
        except TimeoutError:
            return 0, "timed out"
        except (http.client.HTTPException, ConnectionError) as e:
            return 0, f"no answer: {e!r}"
        streamed = response.getheader("Transfer-Encoding") == "chunked" or response.status == 101
        return response.status, "" if streamed else response.read(2000).decode(errors="replace")


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{o.method.upper()} {o.path}" for o in OPERATIONS])
def test_no_server_errors(agent: Agent, world: World, operation: Any) -> None:
    method, path = operation.method.upper(), operation.path
    if (method, path) in NOT_FUZZED:
        pytest.skip(NOT_FUZZED[(method, path)])
    status, message = send(agent.socket, method, "/v1.45" + path.replace("{", "").replace("}", ""), b"", {})
    if status == 405 or (status == 404 and "page not found" in message):
        pytest.skip("not implemented by the agent")
    log_start = agent.log.stat().st_size
    errors: list[str] = []
    tried = 0

    def run(mode: GenerationMode) -> None:
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode), use_world=st.booleans())
        def one(case: Any, use_world: bool) -> None:
            nonlocal tried
            if method != "GET" or tried == 0:
                world.ensure()
            params = {
                name: (world.parameter(path, name) if use_world else None) or str(value)
                for name, value in (case.path_parameters or {}).items()
            }
            url = "/v1.45" + path.format(**{k: urllib.parse.quote(v, safe="") for k, v in params.items()})
            query = _query(case)
            url += "?" + query if query else ""
            status, message = send(agent.socket, method, url, _body(case), _headers(case))
            tried += 1
            expected = (status == 502 and path in REGISTRY_ROUTES) or (status == 503 and path.startswith(SWARM_ROUTES))
            if not status or (status >= 500 and not expected):
                errors.append(f"{status} {method} {url[:300]} body={_body(case)!r:.300}: {message[:300]}")

        one()

    run(GenerationMode.POSITIVE)
    try:
        run(GenerationMode.NEGATIVE)
    except Unsatisfiable:  # nothing in this route's declaration can be broken (no body, string parameters only)
        pass
    print(f"{method} {path}: {tried} requests, {len(errors)} server errors")
    assert not errors, "\n".join(errors)
    with open(agent.log, "rb") as f:
        f.seek(log_start)
        logged = f.read().decode(errors="replace")
    assert "Traceback" not in logged, logged[logged.index("Traceback") - 300 :][:3000]
