"""SSH key pairs: the machine's own key (the user logs in with it) and a guest's host keys (pinned before the
first connection, because the driver puts them into the guest itself)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HostKeys = dict[str, tuple[bytes, str]]  # key type -> (private key in OpenSSH PEM, public key line)


def _new_ed25519() -> tuple[bytes, str]:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return pem, public.decode()


def generate_key(path: Path, comment: str) -> None:
    """A new ed25519 key pair at `path` (0600) and `path`.pub, in OpenSSH format."""
    pem, public = _new_ed25519()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    Path(f"{path}.pub").write_text(f"{public} {comment}\n")


def host_keys() -> HostKeys:
    """A guest's own SSH host keys, kept in memory until the driver writes them into its seed."""
    return {"ed25519": _new_ed25519()}


def public_lines(keys: HostKeys) -> list[str]:
    """The public host key lines to pin ("ssh-ed25519 AAAA...")."""
    return [public for _, public in keys.values()]
