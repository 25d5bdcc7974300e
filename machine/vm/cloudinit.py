"""Cloud-init user data: a NoCloud seed (the ISO, volume "cidata", that configures a cloud image at its first
boot), and user data for clouds that take it through their API (EC2), merged with the user's own.

It creates the SSH user (password-less sudo, the machine's key), replaces the image's SSH host keys
with the machine's own (so they can be pinned before the first connection), and sets the hostname.
The user-data is JSON, which YAML parsers (cloud-init's included) read as it is.
"""

from __future__ import annotations

import email
import gzip
import json
from collections.abc import Sequence
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

from . import iso9660
from .keys import HostKeys

USER = "machine"
# what cloud-init makes of user data by its first line (a longer prefix before a shorter one)
_TYPES = {
    "#cloud-config-archive": "cloud-config-archive",
    "#cloud-config-jsonp": "cloud-config-jsonp",
    "#cloud-config": "cloud-config",
    "#cloud-boothook": "cloud-boothook",
    "#include-once": "x-include-once-url",
    "#include": "x-include-url",
    "#part-handler": "part-handler",
    "## template: jinja": "jinja2",
    "#!": "x-shellscript",
}
# how the user's cloud-config merges into ours: lists are appended (their users, runcmd, packages stay),
# dictionaries merged, and a value we set is kept (the SSH user, the host keys, the hostname)
THEIR_MERGE = "dict(no_replace,recurse_list)+list(append)+str()"


class UserDataError(ValueError):
    """The user's user data is not something cloud-init reads."""


def user_data(
    hostname: str, authorized_key: str, host_keys: HostKeys, user: str = USER, extra_keys: Sequence[str] = ()
) -> str:
    """The #cloud-config for a machine; host_keys: type -> (private key PEM, public key line); extra_keys
    are authorized for `user` beside the machine's key."""
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
                "name": user,
                "shell": "/bin/sh",
                "lock_passwd": True,
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "ssh_authorized_keys": [authorized_key, *extra_keys],
            }
        ],
        "disable_root": True,
        "ssh_pwauth": False,
        "ssh_deletekeys": True,
        "ssh_genkeytypes": sorted(host_keys),  # all present: none generated
        "ssh_keys": ssh_keys,
    }
    return "#cloud-config\n" + json.dumps(config, indent=1) + "\n"


def merge(ours: str, theirs: bytes) -> str:
    """One MIME multipart user data of our #cloud-config and the user's own: any format cloud-init reads
    (#cloud-config, a #! script, #include, ..., MIME multipart, gzip-compressed). Their cloud-config merges
    into ours (THEIR_MERGE) unless it says otherwise; their scripts run as cloud-init runs them."""
    if theirs[:2] == b"\x1f\x8b":
        try:
            theirs = gzip.decompress(theirs)
        except (OSError, EOFError) as e:
            raise UserDataError(f"it looks gzip-compressed but does not decompress: {e}") from None
    message = MIMEMultipart()
    message.attach(MIMEText(ours, "cloud-config"))
    for part in _parts(theirs):
        if part.get_content_type() == "text/cloud-config" and "Merge-Type" not in part:
            part["Merge-Type"] = THEIR_MERGE
        message.attach(part)
    return message.as_string()


def _parts(data: bytes) -> list[Message]:
    if data.lstrip()[:13].lower() == b"content-type:":
        parts = [part for part in email.message_from_bytes(data).walk() if not part.is_multipart()]
        if not parts:
            raise UserDataError("it is a MIME message without parts")
        return parts
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise UserDataError("it is neither UTF-8 text nor gzip-compressed") from None
    for prefix, subtype in _TYPES.items():
        if text.startswith(prefix):
            return [MIMEText(text, subtype)]
    raise UserDataError(
        "cloud-init would ignore it: start it with #cloud-config, a #! script line, #include or another "
        "line cloud-init knows, or give a MIME multipart message"
    )


def write_seed(path: Path, instance_id: str, hostname: str, authorized_key: str, host_keys: HostKeys) -> None:
    """The NoCloud seed ISO at `path`."""
    meta_data = json.dumps({"instance-id": instance_id, "local-hostname": hostname}) + "\n"
    iso9660.write(
        path,
        "cidata",
        {"meta-data": meta_data.encode(), "user-data": user_data(hostname, authorized_key, host_keys).encode()},
    )
