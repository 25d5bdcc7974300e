"""Create-time configuration: a create request merged with its image's config, as Docker merges them."""

from __future__ import annotations

from typing import Any

from ..errors import Conflict, InvalidInput
from ..network import ports

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")


def merge_env(base: list[str], extra: list[str]) -> list[str]:
    """`KEY=value` lists, later keys replacing earlier ones in place."""
    merged: dict[str, str] = {}
    for item in base + extra:
        merged[item.split("=", 1)[0]] = item
    return list(merged.values())


def merge(
    body: dict[str, Any], image_ref: str, image_config: dict[str, Any], cid: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Config, HostConfig) of a new container: the request's values, the image's where the request has none."""
    host_config = body.get("HostConfig") or {}
    if not isinstance(host_config, dict):
        raise InvalidInput("invalid HostConfig: expected a JSON object")
    config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
    config["Image"] = image_ref
    config["Env"] = merge_env(image_config.get("Env") or [], body.get("Env") or [])
    if not body.get("Entrypoint") and not body.get("Cmd"):
        config["Cmd"] = image_config.get("Cmd")
    if body.get("Entrypoint") is None:
        config["Entrypoint"] = image_config.get("Entrypoint")
    config["WorkingDir"] = body.get("WorkingDir") or image_config.get("WorkingDir") or ""
    config["User"] = body.get("User") or image_config.get("User") or ""
    config["Labels"] = {**(image_config.get("Labels") or {}), **(body.get("Labels") or {})}
    exposed: dict[str, Any] = {
        p: {} for p in image_config.get("ExposedPorts") or {} if ports.valid(p)
    }  # images from before checks
    config["ExposedPorts"] = {**exposed, **(body.get("ExposedPorts") or {})}
    config["StopSignal"] = body.get("StopSignal") or image_config.get("StopSignal")
    if not command(config):
        raise InvalidInput("no command specified")
    config["Hostname"] = body.get("Hostname") or cid[:12]
    if not (host_config.get("LogConfig") or {}).get("Type"):
        host_config["LogConfig"] = {"Type": "json-file", "Config": {}}  # docker-py reads logs only for this
    host_config.setdefault("NetworkMode", "default")
    host_config.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    policy = (host_config.get("RestartPolicy") or {}).get("Name") or "no"
    if policy not in RESTART_POLICIES:
        raise InvalidInput(f"invalid restart policy {policy!r}")
    if policy != "no" and host_config.get("AutoRemove"):
        raise Conflict("conflicting options: cannot specify both --restart and --rm")
    return config, host_config


def command(config: dict[str, Any]) -> list[str]:
    """What the container runs: its entrypoint followed by its command."""
    return list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
