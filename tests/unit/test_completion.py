"""`machine completion SHELL`: the scripts, run by a real bash, complete commands, options and machine names;
PowerShell's completer speaks click's protocol (there is no PowerShell here to run its script)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The `machine` of this venv first on PATH, and a store holding machines dev and web."""
    store = tmp_path / "store"
    for name in ("dev", "web"):
        (store / "machines" / name).mkdir(parents=True)
    environ = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", MACHINE_STORAGE_PATH=str(store))
    environ.pop("MACHINE_NAME", None)
    return environ


def script(shell: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [str(BIN / "machine"), "completion", shell], env=env, capture_output=True, text=True, check=True
    ).stdout


def bash_completes(source: str, env: dict[str, str], *words: str) -> list[str]:
    """COMPREPLY of the bash completion script `source` for the command line `words` (the last one being typed)."""
    line = " ".join(f"'{word}'" for word in words)
    program = f"{source}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n_machine_completion machine\n"
    program += 'printf "%s\\n" "${COMPREPLY[@]}"\n'
    result = subprocess.run(["bash", "--norc", "-c", program], env=env, capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_bash_completes_commands_options_and_machine_names(env: dict[str, str], tmp_path: Path) -> None:
    source = script("bash", env)
    assert bash_completes(source, env, "machine", "en") == ["env"]
    assert {"create", "ls", "start", "completion", "run", "ps"} <= set(bash_completes(source, env, "machine", ""))
    assert bash_completes(source, env, "machine", "ls", "--f") == ["--filter", "--format"]
    assert bash_completes(source, env, "machine", "env", "") == ["dev", "web"]
    assert bash_completes(source, env, "machine", "start", "dev", "w") == ["web"]
    assert bash_completes(source, env, "machine", "ps", "--machine", "d") == ["dev"]
    assert bash_completes(source, env, "machine", "completion", "") == ["bash", "zsh", "fish", "powershell"]
    other = tmp_path / "other"
    (other / "machines" / "elsewhere").mkdir(parents=True)
    assert bash_completes(source, env, "machine", "--storage-path", str(other), "ssh", "") == ["elsewhere"]


def test_powershell_completer_speaks_clicks_protocol(env: dict[str, str]) -> None:
    source = script("powershell", env)
    assert "Register-ArgumentCompleter -Native -CommandName machine" in source
    assert '$env:_MACHINE_COMPLETE = "powershell_complete"' in source

    def completes(line: str) -> list[str]:
        answer = subprocess.run(
            [str(BIN / "machine")],
            env=dict(env, _MACHINE_COMPLETE="powershell_complete", COMP_LINE=line),
            capture_output=True,
            text=True,
            check=True,
        )
        return answer.stdout.splitlines()

    assert completes("machine sta") == ["plain,start", "plain,status"]
    assert completes("machine rm ") == ["plain,dev", "plain,web"]
    assert completes("machine rm -f w") == ["plain,web"]


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "compdef _machine_completion machine"), ("fish", "complete ")])
def test_zsh_and_fish_scripts(env: dict[str, str], shell: str, marker: str) -> None:
    source = script(shell, env)
    assert marker in source and "_MACHINE_COMPLETE" in source


def test_an_unknown_shell_is_a_usage_error(env: dict[str, str]) -> None:
    failed = subprocess.run([str(BIN / "machine"), "completion", "tcsh"], env=env, capture_output=True, text=True)
    assert failed.returncode == 2 and "'tcsh' is not one of" in failed.stderr
