"""The host tools that networking runs: `ip` (one command, or a batch) and the firewall rules (in one batch)."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from typing import NamedTuple

log = logging.getLogger("guest.network")


def ip(
    *args: str, batch: str | None = None, netns: str | None = None, force: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `ip ARGS` (or the lines of `batch`, all of them despite errors with `force`), in namespace `netns`."""
    command = ["ip"] + (["-n", netns] if netns else [])
    command += (["-force"] if force else []) + (["-batch", "-"] if batch is not None else list(args))
    return subprocess.run(command, input=batch, capture_output=True, text=True)


class Rule(NamedTuple):
    """An iptables rule: appended (-A) or inserted first (-I) in `chain` of `table`."""

    action: str
    table: str
    chain: str
    spec: tuple[str, ...]

    @property
    def saved(self) -> str:
        """The rule as iptables-save prints it (`spec` is written in its order: addresses, interfaces, target)."""
        return " ".join(("-A", self.chain, *self.spec))


def _present() -> set[tuple[str, str]]:
    """The rules there now, as (table, rule) from iptables-save."""
    listed = subprocess.run(["iptables-save"], capture_output=True, text=True)
    found, table = set(), ""
    for line in listed.stdout.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith("-A "):
            found.add((table, line.strip()))
    return found


def firewall(rules: Sequence[Rule], remove: bool = False) -> None:
    """Ensure `rules` (or, with `remove`, that none of them is left) with two processes whatever their number:
    iptables-save for what is there, then one iptables-restore --noflush with only what is missing (or there)."""
    present = _present()
    lines: dict[str, list[str]] = {}
    for rule in dict.fromkeys(rules):  # once each, in order
        there = (rule.table, rule.saved) in present
        if remove and there:
            lines.setdefault(rule.table, []).append(" ".join(("-D", rule.chain, *rule.spec)))
        elif not remove and not there:
            position = ("1",) if rule.action == "-I" else ()
            lines.setdefault(rule.table, []).append(" ".join((rule.action, rule.chain, *position, *rule.spec)))
    if not lines:
        return
    script = "".join(
        f"*{table}\n" + "".join(f"{line}\n" for line in found) + "COMMIT\n" for table, found in lines.items()
    )
    restored = subprocess.run(["iptables-restore", "--noflush"], input=script, capture_output=True, text=True)
    if restored.returncode != 0:
        log.warning("firewall rules not applied (%s):\n%s", restored.stderr.strip(), script)
