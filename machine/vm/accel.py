"""Which accelerator a local VM gets: KVM only once a guest has booted under it on this computer (on some hosts
/dev/kvm exists but guests hang under KVM), otherwise qemu TCG. The verdict is a file in the store's cache."""

from __future__ import annotations

import os
from pathlib import Path

_VERDICT = "kvm-works"


def kvm_works(cache: Path) -> bool:
    """Whether a guest has booted under KVM here (and /dev/kvm is still there)."""
    return (cache / _VERDICT).exists() and os.path.exists("/dev/kvm")


def record_kvm_works(cache: Path) -> None:
    """Remember that a guest booted under KVM on this computer: `auto` picks KVM from now on."""
    cache.mkdir(parents=True, exist_ok=True)
    (cache / _VERDICT).touch()
