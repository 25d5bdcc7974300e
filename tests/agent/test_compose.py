"""docker-compose 1.29.2 (Debian's, on /usr/bin/python3) against the agent: a web + db project with a build, a named
volume, a user network, a published port, depends_on on a healthy db, environment and health checks."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers

COMPOSE = "/usr/bin/docker-compose"
PORT = 18190

PROJECT = f"""version: "2.4"
services:
  db:
    image: {IMAGE}
    command: ["sh", "-c", "echo $$DB_NAME > /data/name; touch /tmp/ready; exec sleep 600"]
    environment:
      DB_NAME: appdb
    volumes:
      - dbdata:/data
    networks: [backend]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 30
  web:
    build: ./web
    depends_on:
      db:
        condition: service_healthy
    environment:
      GREETING: hello from web
    ports:
      - "${{WEB_PUBLISH}}"
    networks: [backend]
volumes:
  dbdata:
networks:
  backend:
"""

DOCKERFILE = f"""FROM {IMAGE}
RUN mkdir -p /www
CMD ["sh", "-c", "echo \\"$GREETING\\" > /www/index.html; exec httpd -f -p 80 -h /www"]
"""


def fetch(port: int, timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return bytes(urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


class Compose:
    """docker-compose in a project folder, against one agent."""

    def __init__(self, agent: Agent, folder: Path):
        self.agent = agent
        self.folder = folder

    def __call__(self, *args: str, publish: str = f"{PORT}:80", check: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(self.agent.env, WEB_PUBLISH=publish, COMPOSE_PROJECT_NAME="demo")
        result = subprocess.run([COMPOSE, *args], cwd=self.folder, env=env, capture_output=True, text=True, timeout=600)
        if check and result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result


@pytest.fixture
def compose(agent: Agent, tmp_path: Path) -> Iterator[Compose]:
    if not shutil.which(COMPOSE):
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "docker-compose.yml").write_text(PROJECT)
    run = Compose(agent, tmp_path)
    try:
        yield run
    finally:
        run("down", "-v", "--rmi", "local", check=False)


def test_compose_project_lifecycle(agent: Agent, compose: Compose) -> None:
    compose("up", "-d", "--build")
    assert fetch(PORT) == b"hello from web\n"
    rows = compose("ps").stdout
    assert "demo_db_1" in rows and "demo_web_1" in rows and "healthy" in rows
    assert "appdb" in compose("exec", "-T", "db", "cat", "/data/name").stdout
    assert compose("exec", "-T", "web", "wget", "-qO-", "http://web/").stdout == "hello from web\n"
    assert compose("exec", "-T", "web", "ping", "-c", "1", "db").returncode == 0
    compose("logs", "web")
    compose("restart", "web")
    assert fetch(PORT) == b"hello from web\n"
    compose("stop")
    assert "Exit" in compose("ps").stdout
    compose("start")
    assert fetch(PORT) == b"hello from web\n"
    compose("up", "-d", "--scale", "web=2", publish="80")  # no fixed host port: each gets its own
    webs = agent.docker("ps", "--filter", "label=com.docker.compose.service=web", "--format", "{{json .}}").stdout
    rows = [json.loads(line) for line in webs.splitlines()]
    assert sorted(r["Names"] for r in rows) == ["demo_web_1", "demo_web_2"]
    for row in rows:
        port = int(row["Ports"].split("->")[0].rsplit(":", 1)[1])
        assert fetch(port) == b"hello from web\n"
    compose("down", "-v")
    assert agent.docker("ps", "-aq", "--filter", "label=com.docker.compose.project=demo").stdout == ""
    assert "demo_dbdata" not in agent.docker("volume", "ls", "-q").stdout
    assert "demo_backend" not in agent.docker("network", "ls").stdout
