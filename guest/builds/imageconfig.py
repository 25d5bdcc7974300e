"""Dockerfile instructions as image configuration: what ENV, LABEL, CMD, EXPOSE, ... do to an image's config, in a
build step and in the --change lines of `docker import` and `docker commit`."""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import InvalidInput, Unsupported
from . import dockerfile, healthcheck
from .dockerfile import DockerfileError, Instruction

METADATA = {
    "ENV",
    "LABEL",
    "WORKDIR",
    "USER",
    "CMD",
    "ENTRYPOINT",
    "EXPOSE",
    "VOLUME",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "ONBUILD",
    "MAINTAINER",
    "ARG",
}
CHANGES = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)


def apply(inst: Instruction, text: str, inner: dict[str, Any], cmd_set: bool = False) -> None:
    """Change image config `inner` (an image's "config") as the instruction says; `text` is its expanded argument.
    `cmd_set`: a CMD came earlier (in the stage, or the --change lines), which ENTRYPOINT then keeps."""
    keyword = inst.keyword
    if keyword == "ENV":
        env = [e for e in inner.get("Env") or []]
        for key, value in dockerfile.key_values(text, inst.line, "ENV"):
            env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
        inner["Env"] = env
    elif keyword == "LABEL":
        inner.setdefault("Labels", {}).update(dict(dockerfile.key_values(text, inst.line, "LABEL")))
    elif keyword == "MAINTAINER":
        inner.setdefault("Labels", {})["maintainer"] = text
    elif keyword == "WORKDIR":
        inner["WorkingDir"] = os.path.normpath(os.path.join(inner.get("WorkingDir") or "/", text))
    elif keyword == "USER":
        if not text.strip():
            raise inst.error(f"USER requires a user name or ID (got {dockerfile.quote(inst.raw)})")
        inner["User"] = text.strip()
    elif keyword in ("CMD", "ENTRYPOINT"):
        command = (
            inst.json_args
            if inst.json_args is not None
            else ((inner.get("Shell") or ["/bin/sh", "-c"]) + [text] if text else [])
        )
        inner["Cmd" if keyword == "CMD" else "Entrypoint"] = command
        if keyword == "ENTRYPOINT" and not cmd_set:
            inner["Cmd"] = None
    elif keyword == "EXPOSE":
        inner.setdefault("ExposedPorts", {}).update({key: {} for key in dockerfile.exposed(inst, text)})
    elif keyword == "VOLUME":
        for path in inst.json_args if inst.json_args is not None else text.split():
            inner.setdefault("Volumes", {})[path] = {}
    elif keyword == "STOPSIGNAL":
        inner["StopSignal"] = dockerfile.stop_signal(inst, text)
    elif keyword == "SHELL":
        if inst.json_args is None:
            raise inst.error("SHELL requires the arguments to be in JSON form")
        inner["Shell"] = inst.json_args
    elif keyword == "ONBUILD":
        inner.setdefault("OnBuild", []).append(text)
    elif keyword == "HEALTHCHECK":
        inner["Healthcheck"] = healthcheck.parse(inst, text)


def from_changes(lines: list[str], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The image config that --change lines make (the instructions Docker allows there) of `base` (a copy; empty
    when None), their variables expanded from its Env as dockerd's dispatcher does."""
    config: dict[str, Any] = json.loads(json.dumps(base or {}))
    cmd_set = False
    for number, line in enumerate(lines, 1):
        keyword = line.strip().partition(" ")[0].upper()
        if keyword not in CHANGES:
            raise Unsupported(f"--change {keyword} is not supported ({', '.join(CHANGES)})")
        try:
            inst = dockerfile.parse_instruction(number, line)
            env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
            text = inst.raw if keyword in ("CMD", "ENTRYPOINT") else dockerfile.expand(inst.raw, env)
            apply(inst, text, config, cmd_set)
        except DockerfileError as e:
            raise InvalidInput(f"invalid --change {dockerfile.quote(line)}: {e.detail}") from None
        cmd_set = cmd_set or keyword == "CMD"
    return config
