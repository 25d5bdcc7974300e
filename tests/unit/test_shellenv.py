"""`machine env` output for each shell, checked by the shells themselves where installed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from machine.cli.shellenv import render

VALUE = 'unix:///tmp/a "b" $HOME `x`/docker.sock'


@pytest.mark.parametrize("shell", ["bash", "sh", "zsh", "fish"])
def test_posix_shells_get_the_exact_value(shell: str) -> None:
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed")
    script = render({"DOCKER_HOST": VALUE, "UNSET_ME": None}, shell, "machine env x")
    out = (
        subprocess.run(
            [shell, "-c", f'UNSET_ME=1; {script}\necho "$DOCKER_HOST|${{UNSET_ME:-gone}}"'],
            capture_output=True,
            text=True,
        )
        if shell != "fish"
        else subprocess.run(["fish", "-c", f'{script}\necho "$DOCKER_HOST|"'], capture_output=True, text=True)
    )
    assert out.stdout.strip() in (f"{VALUE}|gone", f"{VALUE}|")


def test_windows_shells_syntax() -> None:
    assert '$Env:DOCKER_HOST = "a`"b"' in render({"DOCKER_HOST": 'a"b'}, "powershell", "machine env x")
    assert "Remove-Item Env:DOCKER_HOST" in render({"DOCKER_HOST": None}, "powershell", "machine env x")
    cmd = render({"DOCKER_HOST": "tcp://127.0.0.1:1", "OLD": None}, "cmd", "machine env x")
    assert "SET DOCKER_HOST=tcp://127.0.0.1:1" in cmd and "SET OLD=" in cmd and "REM" in cmd
