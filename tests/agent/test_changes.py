"""`docker diff` (GET /containers/{id}/changes) as dockerd reports it."""

from __future__ import annotations

import pytest

from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers


def test_diff_reports_added_modified_and_deleted_paths(agent: Agent) -> None:
    script = "mkdir -p /new/dir && echo x > /new/dir/file && echo y >> /etc/passwd && rm /bin/vi"
    agent.docker("run", "--name", "changer", IMAGE, "sh", "-c", script)
    try:
        diff = agent.docker("diff", "changer").stdout.splitlines()
        assert diff == ["C /bin", "D /bin/vi", "C /etc", "C /etc/passwd", "A /new", "A /new/dir", "A /new/dir/file"]
    finally:
        agent.docker("rm", "changer")
    agent.docker("create", "--name", "untouched", IMAGE, "true")
    try:
        assert agent.docker("diff", "untouched").stdout == ""
    finally:
        agent.docker("rm", "untouched")
