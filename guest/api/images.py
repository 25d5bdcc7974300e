"""Image endpoints: list, inspect, load, save, import, tag, remove, history, prune."""

from __future__ import annotations

from typing import Any

from .. import times
from ..builds import imageconfig
from ..engine import Engine
from ..errors import InvalidInput, Unsupported
from ..images import archives
from ..images.reference import Reference, normalize
from ..images.store import Image
from . import filters as flt
from . import shapes
from .http.request import Request
from .http.responses import Response, json_response, json_stream, progress_stream
from .http.router import Router


def summary(image: Image, containers: int) -> dict[str, Any]:
    return {
        "Id": image.id,
        "ParentId": "",
        "RepoTags": image.repo_tags,
        "RepoDigests": image.repo_digests,
        "Created": int(times.parse(image.created)),
        "Size": image.size,
        "VirtualSize": image.size,
        "SharedSize": -1,
        "Labels": (image.config.get("config") or {}).get("Labels") or {},
        "Containers": containers,
    }


def inspect(image: Image, parent: str = "") -> dict[str, Any]:
    config = image.config.get("config") or {}
    layers = [str(p) for p in image.layers]
    history = image.config.get("history")
    last = history[-1] if isinstance(history, list) and history and isinstance(history[-1], dict) else {}
    return {
        "Id": image.id,
        "RepoTags": image.repo_tags,
        "RepoDigests": image.repo_digests,
        "Parent": parent,
        "Comment": image.config.get("comment") or last.get("comment", ""),
        "Created": image.created,
        "Container": image.config.get("container", ""),
        "DockerVersion": image.config.get("docker_version", ""),
        "Author": image.config.get("author", ""),
        "Config": config,
        "ContainerConfig": image.config.get("container_config") or config,
        "Architecture": image.config.get("architecture", "amd64"),
        "Os": image.config.get("os", "linux"),
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": {"Name": "overlay2", "Data": {"LowerDir": ":".join(reversed(layers))}},
        "RootFS": {"Type": "layers", "Layers": image.diff_ids},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


def _dangling_ok(image: Image, wanted: list[str]) -> bool:
    dangling = not image.repo_tags
    return any((w in ("true", "1")) == dangling for w in wanted)


def _reference_ok(image: Image, wanted: list[str]) -> bool:
    import fnmatch

    names = image.repo_tags + [t.rsplit(":", 1)[0] for t in image.repo_tags]
    return any(fnmatch.fnmatch(n, normalize(w) if ":" in w else w) for w in wanted for n in names)


def register(router: Router, engine: Engine) -> None:
    store = engine.images

    @router.route("GET", "/images/json", query=shapes.LIST_QUERY)
    def list_images(req: Request) -> Response:
        f = flt.of(req)
        rows = []
        for image in store.all():
            if not req.bool_arg("all") and store.is_intermediate(image):
                continue
            if "dangling" in f and not _dangling_ok(image, f["dangling"]):
                continue
            if "reference" in f and not _reference_ok(image, f["reference"]):
                continue
            if "label" in f and not flt.label_matches(
                (image.config.get("config") or {}).get("Labels") or {}, f["label"]
            ):
                continue
            rows.append(summary(image, len(engine.containers.image_users(image.id))))
        rows.sort(key=lambda r: r["Created"], reverse=True)
        return json_response(rows)

    @router.route("POST", "/images/load")
    def load(req: Request) -> Response:
        lines = archives.load(store, req.stream())
        for line in lines:
            engine.events.emit("image", "load", line.split(": ", 1)[1], {})
        return json_stream([{"stream": line + "\n"} for line in lines])

    @router.route("GET", "/images/get")
    def save_many(req: Request) -> Response:
        names = req.args("names")
        if not names:
            raise InvalidInput("no images given: pass names=IMAGE")
        chosen = archives.select(store, names)  # a clear 404 before the archive starts
        return Response(200, content_type="application/x-tar", stream=archives.save(store, chosen))

    @router.route("POST", "/images/create")
    def create(req: Request) -> Response:
        if req.arg("fromSrc") == "-":
            repo, tag = req.arg("repo") or "", req.arg("tag") or ""
            name = f"{repo}:{tag}" if repo and tag else repo or None
            config = imageconfig.from_changes(req.args("changes"))
            image_id = archives.import_rootfs(store, req.stream(), name, config, req.arg("message") or "")
            engine.events.emit("image", "import", image_id, {})
            return json_stream([{"status": image_id}])
        if req.arg("fromSrc"):
            raise Unsupported("importing from a URL is not supported: download it and use `docker import FILE`")
        if req.arg("fromImage"):
            from ..images import pull, registry  # the registry client (ssl, http) is imported at the first pull

            ref = Reference.parse(req.arg("fromImage") or "", req.arg("tag") or "")
            auth = registry.decode_auth(req.headers.get("X-Registry-Auth"))

            def pull_image(progress: registry.Progress) -> None:
                image_id = pull.pull(store, ref, auth, engine.insecure_registries, progress)
                engine.events.emit("image", "pull", f"{ref.name}:{ref.tag}" if ref.tag else image_id, {})

            return progress_stream(pull_image)
        raise InvalidInput("give fromImage or fromSrc")

    @router.route("POST", "/images/prune", query=shapes.LIST_QUERY)
    def prune(req: Request) -> Response:
        everything = any(v in ("false", "0") for v in flt.of(req).get("dangling", []))
        deleted, reclaimed = store.prune(everything, engine.containers.image_users)
        return json_response({"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed})

    @router.route("GET", "/images/{name:path}/json")
    def inspect_image(req: Request) -> Response:
        image = store.resolve(req.params["name"])
        return json_response(inspect(image, store.parents.get(image.id, "")))

    @router.route("GET", "/images/{name:path}/history")
    def history(req: Request) -> Response:
        return json_response(store.history(req.params["name"]))

    @router.route("GET", "/images/{name:path}/get")
    def save_one(req: Request) -> Response:
        chosen = archives.select(store, [req.params["name"]])  # a clear 404 before the archive starts
        return Response(200, content_type="application/x-tar", stream=archives.save(store, chosen))

    @router.route("POST", "/images/{name:path}/push")
    def push_to_registry(req: Request) -> Response:
        from ..images import push, registry  # imported at the first push

        name = req.params["name"]
        ref = Reference.parse(name, req.arg("tag") or "")
        store.resolve(f"{ref.name}:{ref.tag}")  # a clear 404 before streaming starts
        auth = registry.decode_auth(req.headers.get("X-Registry-Auth"))

        def push_image(progress: registry.Progress) -> None:
            push.push(store, f"{ref.name}:{ref.tag}", ref, auth, engine.insecure_registries, progress)
            engine.events.emit("image", "push", f"{ref.name}:{ref.tag}", {})

        return progress_stream(push_image)

    @router.route("POST", "/images/{name:path}/tag")
    def tag(req: Request) -> Response:
        repo = req.arg("repo")
        if not repo:
            raise InvalidInput("repository name must be given: repo=NAME")
        target = f"{repo}:{req.arg('tag')}" if req.arg("tag") else repo
        store.tag(req.params["name"], target)
        engine.events.emit("image", "tag", store.resolve(target).id, {"name": normalize(target)})
        return Response(201, b"", content_type="")

    @router.route("DELETE", "/images/{name:path}")
    def remove(req: Request) -> Response:
        result = store.remove(req.params["name"], req.bool_arg("force"), engine.containers.image_users)
        for entry in result:
            for action, ref in entry.items():
                engine.events.emit(
                    "image", action.lower().replace("deleted", "delete").replace("untagged", "untag"), ref, {}
                )
        return json_response(result)
