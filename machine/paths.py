"""Where machine keeps its files: `$MACHINE_STORAGE_PATH`, else the platform's user data folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def storage_root() -> Path:
    """The store's root folder (not created here)."""
    configured = os.environ.get("MACHINE_STORAGE_PATH")
    return Path(configured).expanduser() if configured else Path(platformdirs.user_data_dir("machine"))


def machines_dir() -> Path:
    return storage_root() / "machines"


def cache_dir() -> Path:
    return storage_root() / "cache"
