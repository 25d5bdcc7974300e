"""What a guest resumed from a saved state gets first: its clock, which stood still while the state was saved,
stepped to this computer's, and its DHCP lease, which may have lapsed meanwhile, renewed. Its agent does it when
asked (`resume_request`, guest/api/resume.py); a machine reached over SSH alone runs `resume_command`."""

from __future__ import annotations

import json
import shlex
import time

# systemd-networkd guests; in the background: networkctl takes over a second under TCG, the address does not change
_RENEW = (
    "command -v networkctl >/dev/null && "
    "{ networkctl renew $(ls /sys/class/net | grep -vx lo) >/dev/null 2>&1 </dev/null & }; true"
)


def resume_command(ssh_user: str) -> str:
    """The shell command that brings a resumed guest up to date, now (through sudo for a user other than root)."""
    script = f"date -u -s @{time.time():.3f} >/dev/null; " + _RENEW
    return script if ssh_user == "root" else f"sudo -n sh -c {shlex.quote(script)}"


def resume_request() -> bytes:
    """The HTTP request that has the agent bring its resumed guest up to date, now; it answers 204."""
    body = json.dumps({"Time": time.time()}).encode()
    head = (
        "POST /_machine/resumed HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
