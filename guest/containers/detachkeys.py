"""Detach keys: the key sequence that, typed into an attach or exec session with a TTY, ends the session and leaves
the process running (Docker's default ctrl-p ctrl-q; `--detach-keys` names another, like `ctrl-a,x`)."""

from __future__ import annotations

from ..errors import InvalidInput
from ..relay import Read

DEFAULT = b"\x10\x11"  # ctrl-p, ctrl-q
_CONTROLS = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse(keys: str, what: str = "detach keys") -> bytes:
    """The bytes of a sequence as Docker spells it: comma-separated single characters or `ctrl-<letter or @[\\]^_>`;
    the default sequence when `keys` is empty."""
    if not keys:
        return DEFAULT
    codes = bytearray()
    for key in keys.split(","):
        if len(key) == 1:
            codes.append(ord(key))
            continue
        lower = key.lower()
        control = lower[5:] if lower.startswith("ctrl-") else ""
        if len(control) == 1 and "a" <= control <= "z":
            codes.append(ord(control) - ord("a") + 1)
        elif len(control) == 1 and control in _CONTROLS:
            codes.append(_CONTROLS[control])
        else:
            raise InvalidInput(f"Invalid {what} ({keys}) provided: unknown key {key!r}")
    if any(code > 127 for code in codes):
        raise InvalidInput(f"Invalid {what} ({keys}) provided: keys are ASCII characters")
    return bytes(codes)


class Watch:
    """Passes a client's input on until the sequence is typed; bytes that might begin it are held back until the
    next ones tell, and given on if they do not complete it (as Docker's escape proxy)."""

    def __init__(self, keys: bytes):
        self.keys = keys
        self.held = b""
        self.detached = False

    def feed(self, data: bytes) -> bytes:
        """What of `data` goes on to the process; `detached` is set once the sequence was typed."""
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            if self.keys.startswith(candidate):
                if candidate == self.keys:
                    self.detached = True
                    self.held = b""
                    return bytes(out)
                self.held = candidate
            else:
                out += candidate
                self.held = b""
        return bytes(out)

    def reader(self, read: Read) -> Read:
        """`read` with the sequence taken out: b"" once it was typed (or the input ended)."""

        def filtered() -> bytes:
            while not self.detached:
                data = read()
                if not data:
                    return b""
                passed = self.feed(data)
                if passed:
                    return passed
            return b""

        return filtered
