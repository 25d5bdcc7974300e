"""A cloud-init NoCloud seed: the ISO (volume "cidata") that configures a cloud image at its first boot.

It creates the SSH user (password-less sudo, the machine's key), replaces the image's SSH host keys
with the machine's own (so they can be pinned before the first connection), and sets the hostname.
The user-data is JSON, which YAML parsers (cloud-init's included) read as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import iso9660
from .keys import HostKeys

USER = "machine"


def user_data(hostname: str, authorized_key: str, host_keys: HostKeys) -> str:
    """The #cloud-config for a machine; host_keys: type -> (private key PEM, public key line)."""
    ssh_keys: dict[str, str] = {}
    for kind, (private, public) in host_keys.items():
        ssh_keys[f"{kind}_private"] = private.decode()
        ssh_keys[f"{kind}_public"] = public
    config = {
        "hostname": hostname,
        "preserve_hostname": False,
        "manage_etc_hosts": True,
        "users": [
            {
                "name": USER,
                "shell": "/bin/sh",
                "lock_passwd": True,
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "ssh_authorized_keys": [authorized_key],
            }
        ],
        "disable_root": True,
        "ssh_pwauth": False,
        "ssh_deletekeys": True,
        "ssh_genkeytypes": sorted(host_keys),  # all present: none generated
        "ssh_keys": ssh_keys,
    }
    return "#cloud-config\n" + json.dumps(config, indent=1) + "\n"


def write_seed(path: Path, instance_id: str, hostname: str, authorized_key: str, host_keys: HostKeys) -> None:
    """The NoCloud seed ISO at `path`."""
    meta_data = json.dumps({"instance-id": instance_id, "local-hostname": hostname}) + "\n"
    iso9660.write(
        path,
        "cidata",
        {"meta-data": meta_data.encode(), "user-data": user_data(hostname, authorized_key, host_keys).encode()},
    )
