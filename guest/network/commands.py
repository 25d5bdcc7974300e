"""The host tools that networking runs: `ip` (one command, or a batch) and `iptables` (idempotent rules)."""

from __future__ import annotations

import subprocess


def ip(*args: str, batch: str | None = None, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `ip ARGS` (or the lines of `batch`), in namespace `netns` if given."""
    command = ["ip"] + (["-n", netns] if netns else []) + (["-batch", "-"] if batch is not None else list(args))
    return subprocess.run(command, input=batch, capture_output=True, text=True)


def iptables(action: str, table: str, chain: str, *rule: str) -> None:
    """Ensure (action -A append, -I insert first) or remove (-D) an iptables rule."""
    present = subprocess.run(["iptables", "-t", table, "-C", chain, *rule], capture_output=True).returncode == 0
    if action == "-D" and present:
        subprocess.run(["iptables", "-t", table, "-D", chain, *rule], capture_output=True)
    elif action != "-D" and not present:
        subprocess.run(
            ["iptables", "-t", table, action, chain, *(["1"] if action == "-I" else []), *rule], capture_output=True
        )
