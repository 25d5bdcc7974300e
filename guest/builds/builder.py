"""Dockerfile builds behind POST /build (the legacy builder the docker CLI uses with DOCKER_BUILDKIT=0).

Each step makes an image from its parent, as Docker's legacy builder does, so the cache is simple: a
step's key is its parent image, its instruction after variable expansion, and for COPY/ADD the
content of its sources; a changed file misses the cache for that step and, through the new parent,
for everything after it. RUN steps run in real containers; their upper directory becomes the layer.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

from .. import paths, times
from ..containers import logs
from ..engine import Engine
from ..errors import EngineError, InvalidInput, NotFound
from ..files import disk_full, writing
from ..images import pull, tarsafe
from ..images.reference import Reference
from ..images.streams import ChunkReader
from ..images.tarstream import layer_from_upper
from . import dockerfile, imageconfig
from .cache import BuildCache
from .context import BuildContext
from .dockerfile import Instruction
from .stage import Options, Progress, Stage


class BuildCancelled(EngineError):
    """The client went away: the build stops at once (its RUN container killed and removed)."""


def _check(options: Options) -> None:
    if options.cancelled.is_set():
        raise BuildCancelled("the build was cancelled: its client went away")


class Builder:
    """Runs Dockerfiles: each step an image from its parent, cached by its key."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.images = engine.images
        self.containers = engine.containers
        self.cache = BuildCache(self.images)

    # -- the build --------------------------------------------------------------------------------
    def build(self, context: IO[bytes], options: Options, progress: Progress) -> str:
        with writing(self.images.tmp):
            work = Path(tempfile.mkdtemp(prefix="build-", dir=self.images.tmp))
        build_context = BuildContext(self.images, work)
        try:
            with writing(build_context.root):
                tarsafe.extract(context, build_context.root, owners=False)
            try:
                path = paths.resolve(build_context.root, options.dockerfile)
            except OSError:
                path = build_context.root / "nonexistent"
            if not path.is_file():
                raise InvalidInput(f"Cannot locate specified Dockerfile: {options.dockerfile}")
            instructions = dockerfile.parse(path.read_text(errors="replace"))
            build_context.read_ignore()
            return self._run(instructions, build_context, options, progress)
        finally:
            build_context.unmount_all()
            paths.discard(work)

    def _run(self, instructions: list[Instruction], context: BuildContext, options: Options, progress: Progress) -> str:
        global_args: dict[str, str] = {}
        stages: list[Stage] = []
        total = len(instructions)

        def say(text: str) -> None:
            if not options.quiet:
                progress({"stream": text})

        used_args: set[str] = set()
        for number, inst in enumerate(instructions, 1):
            _check(options)
            say(f"Step {number}/{total} : {inst.text}\n")
            if inst.keyword == "ARG" and not stages:
                for key, value in dockerfile.key_values(inst.raw, inst.line, "ARG"):
                    global_args[key] = options.buildargs.get(key, value)
                    used_args.add(key)
                continue
            if inst.keyword == "FROM":
                if stages and options.target and stages[-1].name == options.target:
                    break
                stages.append(self._from(inst, global_args, stages, options, progress))
                say(f" ---> {stages[-1].image_id[7:19] or 'scratch'}\n")
                triggers = (stages[-1].config.get("config") or {}).pop("OnBuild", None) or []
                if triggers:  # the base image's ONBUILD instructions run first (and are not inherited)
                    say(f"# Executing {len(triggers)} build trigger(s)\n")
                for trigger in triggers:
                    step = dockerfile.parse_trigger(inst.line, trigger)
                    self._step(step, stages[-1], stages, context, options, say, used_args)
                continue
            stage = stages[-1]
            self._step(inst, stage, stages, context, options, say, used_args)
        if options.target and not any(s.name == options.target for s in stages):
            raise InvalidInput(f"failed to reach build target {options.target} in Dockerfile")
        final = stages[-1]
        if options.labels:
            config = json.loads(json.dumps(final.config))
            config.setdefault("config", {}).setdefault("Labels", {}).update(options.labels)
            final.image_id = self._commit(final, config, None, "LABEL (build labels)")
        if not final.image_id:
            final.image_id = self._commit(final, final.config, None, "FROM scratch")
        unused = set(options.buildargs) - used_args
        if unused:
            say(f"[Warning] One or more build-args {sorted(unused)} were not consumed\n")
        for tag in options.tags:
            self.images.tag(final.image_id, tag)
        progress({"aux": {"ID": final.image_id}})
        say(f"Successfully built {final.image_id[7:19]}\n")
        for tag in options.tags:
            say(f"Successfully tagged {Reference.parse(tag).local}\n")
        return final.image_id

    def _from(
        self, inst: Instruction, global_args: dict[str, str], stages: list[Stage], options: Options, progress: Progress
    ) -> Stage:
        words = dockerfile.expand(inst.raw, global_args).split()
        name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
        if len(words) not in (1, 3) or (len(words) == 3 and not name):
            raise inst.error("FROM takes an image and optionally AS name")
        if "platform" in inst.flags:
            progress(
                {
                    "stream": f"[Warning] FROM --platform={inst.flags['platform']} is ignored: "
                    f"this engine builds for linux/amd64 only\n"
                }
            )
        base = words[0]
        if base == "scratch":
            config = {
                "architecture": "amd64",
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }
            return Stage(name, "", config, {})
        earlier = next((s for s in stages if s.name and s.name == base), None)
        if earlier is not None:
            image_id = earlier.image_id
        else:
            image_id = self._base_image(base, options, progress)
        config = json.loads(self.images.config_bytes(image_id))
        return Stage(name, image_id, config, {})

    def _base_image(self, ref: str, options: Options, progress: Progress) -> str:
        if not options.pull:
            try:
                return self.images.resolve(ref).id
            except NotFound:
                pass
        reference = Reference.parse(ref)
        return pull.pull(
            self.images,
            reference,
            options.auth,
            self.engine.insecure_registries,
            lambda message: (
                progress({"stream": message["status"] + "\n"})
                if "status" in message and "progressDetail" not in message
                else None
            ),
        )

    def _step(
        self,
        inst: Instruction,
        stage: Stage,
        stages: list[Stage],
        context: BuildContext,
        options: Options,
        say: Callable[[str], None],
        used_args: set[str],
    ) -> None:
        config = json.loads(json.dumps(stage.config))
        inner = config.setdefault("config", {})
        env = dict(e.split("=", 1) for e in inner.get("Env") or [] if "=" in e)
        variables = {**stage.args, **env}
        text = dockerfile.expand(inst.raw, variables) if inst.keyword not in ("RUN", "CMD", "ENTRYPOINT") else inst.raw
        extra = ""
        if inst.keyword in ("COPY", "ADD"):
            extra = context.digest(inst, text, stages)
        elif inst.keyword == "RUN":
            extra = json.dumps(sorted(stage.args.items()))
        key = hashlib.sha256(json.dumps([stage.image_id, inst.keyword, inst.flags, text, extra]).encode()).hexdigest()
        cached = None if options.nocache else self.cache.get(key)
        if cached:
            say(" ---> Using cache\n")
            stage.image_id = cached
            stage.config = json.loads(self.images.config_bytes(cached))
            if inst.keyword == "ARG":
                self._apply_arg(inst, text, stage, options, used_args)
            stage.cmd_set = stage.cmd_set or inst.keyword == "CMD"
            say(f" ---> {cached[7:19]}\n")
            return
        if inst.keyword == "ARG":
            self._apply_arg(inst, text, stage, options, used_args)
            stage.image_id = self._commit(stage, config, None, f"ARG {text}")
        elif inst.keyword in imageconfig.METADATA:
            imageconfig.apply(inst, text, inner, stage.cmd_set)
            stage.image_id = self._commit(stage, config, None, f"/bin/sh -c #(nop)  {inst.keyword} {text}")
        elif inst.keyword == "RUN":
            stage.image_id = self._run_step(inst, stage, config, options, say)
        else:
            diff_id = context.layer(inst, text, stage, stages, config)
            stage.image_id = self._commit(stage, config, diff_id, f"/bin/sh -c #(nop) {inst.keyword} {text}")
        stage.config = json.loads(self.images.config_bytes(stage.image_id))
        stage.cmd_set = stage.cmd_set or inst.keyword == "CMD"
        self.cache.remember(key, stage.image_id)
        say(f" ---> {stage.image_id[7:19]}\n")

    def _apply_arg(self, inst: Instruction, text: str, stage: Stage, options: Options, used: set[str]) -> None:
        for key, value in dockerfile.key_values(text, inst.line, "ARG"):
            stage.args[key] = options.buildargs.get(key, value)
            used.add(key)

    def _commit(self, stage: Stage, config: dict[str, Any], diff_id: str | None, created_by: str) -> str:
        config = json.loads(json.dumps(config))
        config["created"] = times.utc()
        entry: dict[str, Any] = {"created": config["created"], "created_by": created_by}
        if diff_id:
            config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)
        else:
            entry["empty_layer"] = True
        config.setdefault("history", []).append(entry)
        image_id = self.images.add_image(json.dumps(config, separators=(",", ":")).encode(), [])
        if stage.image_id:
            self.images.set_parent(image_id, stage.image_id)
        return image_id

    def _run_step(
        self, inst: Instruction, stage: Stage, config: dict[str, Any], options: Options, say: Callable[[str], None]
    ) -> str:
        inner = config.get("config") or {}
        if not stage.image_id:
            stage.image_id = self._commit(stage, stage.config, None, "FROM scratch")
        command = (
            inst.json_args if inst.json_args is not None else (inner.get("Shell") or ["/bin/sh", "-c"]) + [inst.raw]
        )
        env = (inner.get("Env") or []) + [f"{k}={v}" for k, v in stage.args.items()]
        c = self.containers.create(
            {
                "Image": stage.image_id,
                "Cmd": command,
                "Entrypoint": [],
                "Env": env,
                "User": inner.get("User") or "",
                "WorkingDir": inner.get("WorkingDir") or "",
                "Labels": {},
                "HostConfig": {
                    "ExtraHosts": options.extra_hosts,
                    "NetworkMode": options.network_mode,
                    **options.resources,
                },
            },
            None,
        )
        say(f" ---> Running in {c.id[:12]}\n")
        try:
            self.containers.start(c)
            following = logs.read(
                c.log_path, True, True, follow=True, running=lambda: c.running and not options.cancelled.is_set()
            )
            for record in following:
                if record:
                    say(record[2].decode(errors="replace"))
            _check(options)  # a step its client left is killed with its container, as dockerd cancels it
            self.containers.wait_stopped(c, None)
            code = c.state["ExitCode"]
            if code != 0:
                full = f" (no space left on device: {c.path.parents[1]} is full)" if disk_full(c.path) else ""
                raise InvalidInput(f"The command '{' '.join(command)}' returned a non-zero code: {code}{full}")
            diff_id = self.images.add_layer(io.BufferedReader(ChunkReader(layer_from_upper(c.path / "upper"))))
        finally:
            self.containers.remove(c, force=True, volumes=True)
            say(f"Removing intermediate container {c.id[:12]}\n")
        return self._commit(stage, config, diff_id, " ".join(command))
