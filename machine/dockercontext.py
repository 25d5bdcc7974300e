"""Docker CLI contexts, so `machine use NAME` switches the stock docker CLI too.

The docker CLI keeps contexts in $DOCKER_CONFIG (default ~/.docker): `contexts/meta/<sha256 of the
name>/meta.json` and the current one in `config.json` as `currentContext`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any


def config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def context_name(machine: str) -> str:
    return f"machine-{machine}"


def _meta_dir(name: str) -> Path:
    return config_dir() / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()


def write_context(machine: str, docker_host: str) -> str:
    """Create or update the context of `machine`; returns its name."""
    name = context_name(machine)
    meta = {
        "Name": name,
        "Metadata": {"Description": f"machine {machine}"},
        "Endpoints": {"docker": {"Host": docker_host, "SkipTLSVerify": False}},
    }
    folder = _meta_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "meta.json", meta)
    return name


def remove_context(machine: str) -> None:
    name = context_name(machine)
    shutil.rmtree(_meta_dir(name), ignore_errors=True)
    if current_context() == name:
        set_current_context(None)


def current_context() -> str | None:
    return _read_config().get("currentContext")


def set_current_context(name: str | None) -> None:
    """Make `name` the docker CLI's current context (None: back to the default, local engine)."""
    config = _read_config()
    if name is None:
        config.pop("currentContext", None)
    else:
        config["currentContext"] = name
    config_dir().mkdir(parents=True, exist_ok=True)
    _write_json(config_dir() / "config.json", config)


def _read_config() -> dict[str, Any]:
    try:
        data = json.loads((config_dir() / "config.json").read_text())
        return data if isinstance(data, dict) else {}
    except (FileNotFoundError, ValueError):
        return {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent="\t") + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
