"""POST /_machine/resumed on the real server. Its good path steps the clock, so it runs only in a machine
(tests/vm/test_libvirt.py); here: bad bodies, and a process the kernel does not let set the clock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guest.api import resume
from guest.api.http.listener import listen
from guest.api.http.router import Router
from guest.api.http.server import Server
from tests.support.http import call

# serves the route on argv[1] in a process that lacks CAP_SYS_TIME (it checks, and refuses to serve otherwise)
_WITHOUT_CLOCK = """
import sys, threading
from guest.api import resume
from guest.api.http.router import Router
from guest.api.http.listener import listen
from guest.api.http.server import Server
effective = int(next(l for l in open("/proc/self/status") if l.startswith("CapEff:")).split()[1], 16)
if effective & (1 << 25):
    sys.exit("this process may set the clock")
router = Router()
resume.register(router)
Server(listen(sys.argv[1]), router).serve_forever()
"""


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[Path]:
    router = Router()
    resume.register(router)
    server = Server(listen(str(tmp_path / "api.sock")), router)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield tmp_path / "api.sock"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b"{}", b'{"Time": "now"}', b'{"Time": true}', b'{"Time": -1}', b'{"Time": NaN}', b'{"Time": 1e999}'],
)
def test_a_body_without_a_time_is_refused(sock: Path, body: bytes) -> None:
    answer = call(sock, "POST", "/_machine/resumed", raw=body)
    assert answer.status == 400 and answer.message == 'the body must be {"Time": seconds since the epoch}'


def test_malformed_json_is_refused(sock: Path) -> None:
    answer = call(sock, "POST", "/_machine/resumed", raw=b'{"Time":')
    assert answer.status == 400 and "invalid JSON" in answer.message


def test_a_clock_the_agent_may_not_set_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    drop = ["setpriv", "--bounding-set", "-sys_time", "--inh-caps", "-sys_time"] if os.geteuid() == 0 else []
    server = subprocess.Popen([*drop, sys.executable, "-c", _WITHOUT_CLOCK, str(path)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not path.exists():
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        answer = call(path, "POST", "/_machine/resumed", body={"Time": time.time()})
        assert answer.status == 500 and answer.message == "cannot step the clock: Operation not permitted"
    finally:
        server.kill()
        server.wait()
