"""Dockerfile builds behind POST /build (the legacy builder the docker CLI uses with DOCKER_BUILDKIT=0).

Each step makes an image from its parent, as Docker's legacy builder does, so the cache is simple: a
step's key is its parent image, its instruction after variable expansion, and for COPY/ADD the
content of its sources; a changed file misses the cache for that step and, through the new parent,
for everything after it. RUN steps run in real containers; their upper directory becomes the layer.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

from . import containerlogs, dockerfile, ocispec, registry, tarsafe
from .dockerfile import Instruction
from .engine import Engine
from .errors import InvalidInput, NotFound, SystemFailure

Progress = Callable[[dict[str, Any]], None]
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


@dataclass
class Options:
    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    target: str = ""
    nocache: bool = False
    pull: bool = False
    quiet: bool = False
    buildargs: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    auth: dict[str, str] = field(default_factory=dict)


@dataclass
class Stage:
    name: str
    image_id: str  # "" for scratch before any step
    config: dict[str, Any]
    args: dict[str, str]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Builder:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.images = engine.images
        self.containers = engine.containers
        self._cache_path = self.images.root / "buildcache.json"

    # -- cache ------------------------------------------------------------------------------------
    def _cache(self) -> dict[str, str]:
        try:
            cache: dict[str, str] = json.loads(self._cache_path.read_text())
            return cache
        except (FileNotFoundError, ValueError):
            return {}

    def _remember(self, key: str, image_id: str) -> None:
        with self.images.lock:
            cache = self._cache()
            cache[key] = image_id
            tmp = self._cache_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache))
            os.replace(tmp, self._cache_path)

    def _cached(self, key: str) -> str | None:
        image_id = self._cache().get(key)
        if image_id and (self.images.images_dir / f"{image_id[7:]}.json").exists():
            return image_id
        return None

    # -- the build --------------------------------------------------------------------------------
    def build(self, context: IO[bytes], options: Options, progress: Progress) -> str:
        work = Path(tempfile.mkdtemp(prefix="build-", dir=self.images.tmp))
        try:
            tarsafe.extract(context, work / "context", owners=False)
            path = (work / "context" / options.dockerfile).resolve()
            if not str(path).startswith(str((work / "context").resolve())) or not path.is_file():
                raise InvalidInput(f"Cannot locate specified Dockerfile: {options.dockerfile}")
            instructions = dockerfile.parse(path.read_text(errors="replace"))
            ignore = _ignore_patterns(work / "context")
            return self._run(instructions, work / "context", ignore, options, progress)
        finally:
            self._unmount_all(work)
            shutil.rmtree(work, ignore_errors=True)

    def _run(
        self, instructions: list[Instruction], context: Path, ignore: list[str], options: Options, progress: Progress
    ) -> str:
        global_args: dict[str, str] = {}
        stages: list[Stage] = []
        total = len(instructions)

        def say(text: str) -> None:
            if not options.quiet:
                progress({"stream": text})

        used_args: set[str] = set()
        for number, inst in enumerate(instructions, 1):
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
                    step = dockerfile.parse_instruction(inst.line, trigger)
                    self._step(step, stages[-1], stages, context, ignore, options, say, used_args)
                continue
            stage = stages[-1]
            self._step(inst, stage, stages, context, ignore, options, say, used_args)
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
            say(f"Successfully tagged {registry.Reference.parse(tag).name}:{registry.Reference.parse(tag).tag}\n")
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
        reference = registry.Reference.parse(ref)
        return registry.pull(
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
        context: Path,
        ignore: list[str],
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
            extra = self._sources_digest(inst, text, stage, stages, context, ignore)
        elif inst.keyword == "RUN":
            extra = json.dumps(sorted(stage.args.items()))
        key = hashlib.sha256(json.dumps([stage.image_id, inst.keyword, inst.flags, text, extra]).encode()).hexdigest()
        cached = None if options.nocache else self._cached(key)
        if cached:
            say(" ---> Using cache\n")
            stage.image_id = cached
            stage.config = json.loads(self.images.config_bytes(cached))
            if inst.keyword == "ARG":
                self._apply_arg(inst, text, stage, options, used_args)
            say(f" ---> {cached[7:19]}\n")
            return
        if inst.keyword == "ARG":
            self._apply_arg(inst, text, stage, options, used_args)
            stage.image_id = self._commit(stage, config, None, f"ARG {text}")
        elif inst.keyword in METADATA:
            self._metadata(inst, text, inner)
            stage.image_id = self._commit(stage, config, None, f"/bin/sh -c #(nop)  {inst.keyword} {text}")
        elif inst.keyword == "RUN":
            stage.image_id = self._run_step(inst, stage, config, say)
        else:
            stage.image_id = self._copy(inst, text, stage, stages, context, ignore, config)
        stage.config = json.loads(self.images.config_bytes(stage.image_id))
        self._remember(key, stage.image_id)
        say(f" ---> {stage.image_id[7:19]}\n")

    def _apply_arg(self, inst: Instruction, text: str, stage: Stage, options: Options, used: set[str]) -> None:
        for key, value in dockerfile.key_values(text, inst.line, "ARG"):
            stage.args[key] = options.buildargs.get(key, value)
            used.add(key)

    @staticmethod
    def _metadata(inst: Instruction, text: str, inner: dict[str, Any]) -> None:
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
            inner["User"] = text
        elif keyword in ("CMD", "ENTRYPOINT"):
            command = (
                inst.json_args
                if inst.json_args is not None
                else ((inner.get("Shell") or ["/bin/sh", "-c"]) + [text] if text else [])
            )
            inner["Cmd" if keyword == "CMD" else "Entrypoint"] = command
            if keyword == "ENTRYPOINT":
                inner["Cmd"] = None
        elif keyword == "EXPOSE":
            for port in text.split():
                inner.setdefault("ExposedPorts", {})[port if "/" in port else f"{port}/tcp"] = {}
        elif keyword == "VOLUME":
            for path in inst.json_args if inst.json_args is not None else text.split():
                inner.setdefault("Volumes", {})[path] = {}
        elif keyword == "STOPSIGNAL":
            inner["StopSignal"] = text
        elif keyword == "SHELL":
            if inst.json_args is None:
                raise inst.error("SHELL requires the arguments to be in JSON form")
            inner["Shell"] = inst.json_args
        elif keyword == "ONBUILD":
            inner.setdefault("OnBuild", []).append(text)
        elif keyword == "HEALTHCHECK":
            words = text.split(None, 1)
            inner["Healthcheck"] = (
                {"Test": ["NONE"]}
                if words[0].upper() == "NONE"
                else {"Test": ["CMD-SHELL", words[1] if len(words) > 1 else ""]}
            )

    def _commit(self, stage: Stage, config: dict[str, Any], diff_id: str | None, created_by: str) -> str:
        config = json.loads(json.dumps(config))
        config["created"] = _now()
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

    def _run_step(self, inst: Instruction, stage: Stage, config: dict[str, Any], say: Callable[[str], None]) -> str:
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
            },
            None,
        )
        say(f" ---> Running in {c.id[:12]}\n")
        try:
            self.containers.start(c)
            for record in containerlogs.read(c.log_path, True, True, follow=True, running=lambda: c.running):
                if record:
                    say(record[2].decode(errors="replace"))
            self.containers.wait_stopped(c, None)
            code = c.state["ExitCode"]
            if code != 0:
                raise InvalidInput(f"The command '{' '.join(command)}' returned a non-zero code: {code}")
            diff_id = self.images.add_layer(io.BufferedReader(_Stream(tarsafe.layer_from_upper(c.path / "upper"))))
        finally:
            self.containers.remove(c, force=True, volumes=True)
            say(f"Removing intermediate container {c.id[:12]}\n")
        return self._commit(stage, config, diff_id, " ".join(command))

    # -- COPY / ADD -------------------------------------------------------------------------------
    def _source_root(self, inst: Instruction, stages: list[Stage], context: Path) -> Path:
        source = inst.flags.get("from")
        if not source:
            return context
        earlier = next((s for s in stages[:-1] if s.name == source), None)
        if earlier is None and source.isdigit() and int(source) < len(stages) - 1:
            earlier = stages[int(source)]
        image_id = earlier.image_id if earlier else self.images.resolve(source).id
        return self._mount(image_id, context.parent)

    def _mount(self, image_id: str, work: Path) -> Path:
        """The image's filesystem, mounted read-only under the build's work folder."""
        target = work / "mounts" / image_id[7:19]
        if os.path.ismount(target):
            return target
        target.mkdir(parents=True, exist_ok=True)
        layers = [str(p) for p in reversed(self.images.get(image_id).layers)]
        empty = work / "mounts" / "empty"
        empty.mkdir(exist_ok=True)
        lower = ":".join([*layers, str(empty)])
        result = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower}", str(target)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SystemFailure(f"mounting {image_id[7:19]} for COPY --from failed: {result.stderr.strip()}")
        return target

    @staticmethod
    def _unmount_all(work: Path) -> None:
        for target in (work / "mounts").glob("*") if (work / "mounts").exists() else []:
            if os.path.ismount(target):
                subprocess.run(["umount", "-l", str(target)], capture_output=True)

    def _sources(self, inst: Instruction, text: str, root: Path, ignore: list[str]) -> tuple[list[Path], str]:
        words = inst.json_args if inst.json_args is not None else text.split()
        if len(words) < 2:
            raise inst.error(f"{inst.keyword} requires at least two arguments: sources and a destination")
        *patterns, dest = words
        sources: list[Path] = []
        for pattern in patterns:
            if pattern.startswith(("http://", "https://")):
                if inst.keyword != "ADD":
                    raise inst.error("COPY takes no URLs: use ADD, or download into the build context")
                sources.append(self._download(pattern, root.parent / "downloads"))
                continue
            relative = os.path.normpath(pattern.lstrip("/"))
            if relative.startswith(".."):
                raise inst.error(f"{pattern}: forbidden path outside the build context")
            matches = (
                sorted(glob.glob(str(root / relative)))
                if glob.has_magic(relative)
                else ([str(root / relative)] if os.path.lexists(root / relative) else [])
            )
            matches = [m for m in matches if not _ignored(os.path.relpath(m, root), ignore)]
            if not matches:
                raise inst.error(
                    f"{inst.keyword} failed: file not found in build context or excluded by "
                    f".dockerignore: stat {pattern}: file does not exist"
                )
            sources += [Path(m) for m in matches]
        return sources, dest

    def _download(self, url: str, folder: Path) -> Path:
        """ADD of a URL: fetched once per build (its content then keys the cache); archives stay packed."""
        target = (
            folder
            / hashlib.sha256(url.encode()).hexdigest()[:16]
            / (os.path.basename(urllib.parse.urlsplit(url).path) or "download")
        )
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
                    shutil.copyfileobj(response, out, 1 << 20)
            except (OSError, ValueError) as e:
                target.unlink(missing_ok=True)
                raise InvalidInput(f"ADD {url}: download failed: {e}") from None
            target.chmod(0o600)
        return target

    def _sources_digest(
        self, inst: Instruction, text: str, stage: Stage, stages: list[Stage], context: Path, ignore: list[str]
    ) -> str:
        root = self._source_root(inst, stages, context)
        sources, _ = self._sources(inst, text, root, ignore if root == context else [])
        digest = hashlib.sha256()
        for source in sources:
            for path in [source, *sorted(source.rglob("*"))] if source.is_dir() else [source]:
                relative = os.path.relpath(path, root)
                if root == context and _ignored(relative, ignore):
                    continue
                st = os.lstat(path)
                digest.update(f"{relative}\0{st.st_mode}\0".encode())
                if path.is_symlink():
                    digest.update(os.readlink(path).encode())
                elif path.is_file():
                    with open(path, "rb") as f:
                        for block in iter(lambda: f.read(1 << 20), b""):
                            digest.update(block)
        return digest.hexdigest()

    def _copy(
        self,
        inst: Instruction,
        text: str,
        stage: Stage,
        stages: list[Stage],
        context: Path,
        ignore: list[str],
        config: dict[str, Any],
    ) -> str:
        root = self._source_root(inst, stages, context)
        sources, dest = self._sources(inst, text, root, ignore if root == context else [])
        workdir = (config.get("config") or {}).get("WorkingDir") or "/"
        dest_path = os.path.normpath(os.path.join(workdir, dest))
        into_dir = dest.endswith("/") or len(sources) > 1 or (len(sources) == 1 and sources[0].is_dir())
        layer = context.parent / f"layer-{os.urandom(4).hex()}"
        target = layer / dest_path.lstrip("/")
        uid, gid = self._owner(inst.flags.get("chown", ""), stage)
        for source in sources:
            if (
                inst.keyword == "ADD"
                and source.is_file()
                and _is_archive(source)
                and not source.is_relative_to(context.parent / "downloads")
            ):  # remote archives stay packed
                target.mkdir(parents=True, exist_ok=True)
                with open(source, "rb") as f:
                    tarsafe.extract(f, target)
                continue
            if source.is_dir() and not source.is_symlink():
                target.mkdir(parents=True, exist_ok=True)
                shutil.copytree(
                    source,
                    target,
                    symlinks=True,
                    dirs_exist_ok=True,
                    ignore=_context_ignore(root, ignore) if root == context else None,
                )
            else:
                final = target / source.name if into_dir else target
                final.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, final, follow_symlinks=False)
        for path in [layer, *layer.rglob("*")]:
            if path != layer:
                os.lchown(path, uid, gid)
        try:
            diff_id = self.images.add_layer(
                io.BufferedReader(
                    _Stream(tarsafe.tar_paths([(layer / child, child) for child in sorted(os.listdir(layer))]))
                )
            )
        finally:
            shutil.rmtree(layer, ignore_errors=True)
        return self._commit(stage, config, diff_id, f"/bin/sh -c #(nop) {inst.keyword} {text}")

    def _owner(self, chown: str, stage: Stage) -> tuple[int, int]:
        if not chown:
            return 0, 0
        user, _, group = chown.partition(":")
        if user.isdigit() and (not group or group.isdigit()):
            return int(user), int(group or user)
        root = self._mount(stage.image_id, self.images.tmp / "chown") if stage.image_id else Path("/nonexistent")
        try:
            uid, gid, _ = ocispec.resolve_user(root, chown)
        except ValueError as e:
            raise InvalidInput(f"COPY --chown={chown}: {e}") from None
        finally:
            if os.path.ismount(root):
                subprocess.run(["umount", "-l", str(root)], capture_output=True)
        return uid, gid


class _Stream(io.RawIOBase):
    """A file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks = chunks
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(buf), len(self.pending))
        buf[:n], self.pending = self.pending[:n], self.pending[n:]
        return n


def _is_archive(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(262)
    return head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or head[257:262] == b"ustar"


def _ignore_patterns(context: Path) -> list[str]:
    try:
        lines = (context / ".dockerignore").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [
        os.path.normpath(line.strip().lstrip("/"))
        if not line.strip().startswith("!")
        else "!" + os.path.normpath(line.strip()[1:].lstrip("/"))
        for line in lines
        if line.strip() and not line.startswith("#")
    ]


def _ignored(relative: str, patterns: list[str]) -> bool:
    """.dockerignore semantics: later patterns win; `!` re-includes; a pattern also covers what is below it."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern[1:] if negate else pattern
        regex = fnmatch.translate(pattern).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        parts = relative.split("/")
        if any(re.match(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            result = not negate
    return result


def _context_ignore(root: Path, patterns: list[str]) -> Callable[[str, list[str]], list[str]]:
    def ignore(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if _ignored(os.path.relpath(os.path.join(directory, n), root), patterns)]

    return ignore
