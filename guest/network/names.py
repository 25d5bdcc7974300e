"""Names on user networks: which container a name (or short ID or alias, optionally `NAME.NETWORK`, or the alias
of one of its --link) means to the container asking, on a user network they share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import links
from .member import Member
from .store import BUILTIN


def _user_endpoints(c: Member) -> dict[str, Any]:
    return {n: e for n, e in c.networks.items() if n not in BUILTIN and e.get("IPAddress")}


def lookup(containers: Sequence[Member], querier: str, name: str) -> str | None:
    """The address of container `name` on a user network that the querying container (known by its address)
    is on too; None when there is none."""
    asker = next((c for c in containers if any(e["IPAddress"] == querier for e in _user_endpoints(c).values())), None)
    if asker is None:
        return None
    for network, own in _user_endpoints(asker).items():
        short = name[: -len(network) - 1] if name.endswith(f".{network}") else name
        # --link NAME:ALIAS on a user network: ALIAS is a name for NAME there, for this container only
        short = next((target for target, alias in map(links.parse, own.get("Links") or []) if alias == short), short)
        for other in containers:
            endpoint = _user_endpoints(other).get(network)
            if endpoint and short in (other.name, other.id[:12], *(endpoint.get("Aliases") or [])):
                return str(endpoint["IPAddress"])
    return None
