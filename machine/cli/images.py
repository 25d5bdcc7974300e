"""Image commands through docker-py: images, pull, push, build, tag, rmi, load, save."""

from __future__ import annotations

import sys

import click

from ..progress import Console, Meter
from .common import print_table
from .dockerclient import ago, client, fail, machine_option, request


@click.command()
@machine_option
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
def images(machine_name: str | None, quiet: bool) -> None:
    """List images."""
    table = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]]
    for image in client(machine_name).api.images():
        short = image["Id"].split(":")[-1][:12]
        if quiet:
            click.echo(short)
            continue
        for tag in image.get("RepoTags") or ["<none>:<none>"]:
            repo, _, name = tag.rpartition(":")
            table.append([repo, name, short, ago(image["Created"]), f"{image['Size'] / 1e6:.1f}MB"])
    if not quiet:
        print_table(table)


@click.command("load")
@machine_option
@click.option(
    "-i",
    "--input",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Read from a tar archive file (docker save format).",
)
def load_(machine_name: str | None, path: str) -> None:
    """Load images from a tar archive."""
    with open(path, "rb") as f:
        for line in client(machine_name).api.load_image(f.read()):
            if "stream" in line:
                click.echo(line["stream"], nl=False)
            elif "error" in line:
                fail(RuntimeError(line["error"]))


@click.command()
@machine_option
@click.option("-f", "--force", is_flag=True)
@click.argument("images_", nargs=-1, required=True, metavar="IMAGE...")
def rmi(machine_name: str | None, force: bool, images_: tuple[str, ...]) -> None:
    """Remove images."""
    import docker

    api = client(machine_name).api
    for image in images_:
        try:
            for entry in api.remove_image(image, force=force) or []:
                for key, value in entry.items():
                    click.echo(f"{key}: {value}")
        except docker.errors.APIError as e:
            fail(e)


_LAYER_DONE = ("complete", "Pushed", "exists", "Already exists")


def show_progress(stream: object, out: Console) -> None:
    """Print docker's JSON progress messages as the docker CLI does: one line per status, and on a terminal a
    line redrawn in place with the layers done, the bytes so far and the elapsed time."""
    layers: dict[str, tuple[int, int]] = {}  # id -> (bytes done, bytes in all)
    finished: set[str] = set()
    meter = Meter(out, "", 0)
    for message in stream:  # type: ignore[attr-defined]
        if not isinstance(message, dict):
            continue
        if "error" in message:
            fail(RuntimeError(message["error"]))
        if "stream" in message:
            out(message["stream"].rstrip("\n"))
            continue
        status, ident = message.get("status", ""), message.get("id", "")
        detail = message.get("progressDetail")
        if ident and detail is not None:
            if status.endswith(_LAYER_DONE) or status.startswith("Mounted from"):
                finished.add(ident)
            layers.setdefault(ident, (0, 0))
            if detail.get("total"):
                layers[ident] = (int(detail.get("current", 0)), int(detail["total"]))
        if status and (detail is None or ident in finished):
            out(f"{ident}: {status}" if ident else status)
        if out.live and layers:
            meter.label = f"{len(finished)}/{len(layers)} layers"
            meter.total = sum(total for _, total in layers.values())
            meter.update(sum(done for done, _ in layers.values()))


@click.command()
@machine_option
@click.argument("image")
def pull(machine_name: str | None, image: str) -> None:
    """Pull an image from a registry."""
    show_progress(client(machine_name).api.pull(image, stream=True, decode=True), Console(sys.stdout))


@click.command()
@machine_option
@click.argument("image")
def push(machine_name: str | None, image: str) -> None:
    """Push an image to a registry."""
    show_progress(client(machine_name).api.push(image, stream=True, decode=True), Console(sys.stdout))


@click.command()
@machine_option
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag (repeatable).")
@click.option("-f", "--file", "dockerfile", help="Name of the Dockerfile (default: PATH/Dockerfile).")
@click.option("--build-arg", multiple=True, help="Build-time variables KEY=VALUE.")
@click.option("--target", help="Build stage to stop at.")
@click.option("--no-cache", is_flag=True, help="Do not use the cache.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
def build(
    machine_name: str | None,
    tags: tuple[str, ...],
    dockerfile: str | None,
    build_arg: tuple[str, ...],
    target: str | None,
    no_cache: bool,
    quiet: bool,
    path: str,
) -> None:
    """Build an image from a Dockerfile."""
    args = dict(a.split("=", 1) for a in build_arg if "=" in a)
    stream = client(machine_name).api.build(
        path=path,
        tag=tags[0] if tags else None,
        dockerfile=dockerfile,
        buildargs=args or None,
        target=target,
        nocache=no_cache,
        quiet=quiet,
        decode=True,
        rm=True,
    )
    image_id = ""
    for message in stream:
        if "error" in message:
            fail(RuntimeError(message["error"]))
        if "aux" in message:
            image_id = message["aux"].get("ID", image_id)
        if "stream" in message and not quiet:
            click.echo(message["stream"], nl=False)
    api = client(machine_name).api
    for tag in tags[1:]:
        repo, _, name = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
        api.tag(image_id, repo, name)
    if quiet:
        click.echo(image_id)


@click.command()
@machine_option
@click.argument("source")
@click.argument("target")
def tag(machine_name: str | None, source: str, target: str) -> None:
    """Give image SOURCE the name TARGET."""
    import docker

    repo, _, name = target.rpartition(":") if ":" in target.rsplit("/", 1)[-1] else (target, "", "latest")
    try:
        client(machine_name).api.tag(source, repo, name)
    except docker.errors.APIError as e:
        fail(e)


@click.command()
@machine_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Write to this file.")
@click.argument("images_", nargs=-1, required=True, metavar="IMAGE...")
def save(machine_name: str | None, output: str, images_: tuple[str, ...]) -> None:
    """Save images to a tar archive (docker save format)."""
    import docker

    api = client(machine_name).api
    try:
        response = request(api, "GET", "/images/get", params={"names": list(images_)}, stream=True)
        with open(output, "wb") as f:
            for chunk in response.iter_content(chunk_size=1 << 20):
                f.write(chunk)
    except docker.errors.APIError as e:
        fail(e)


COMMANDS = [images, pull, push, build, tag, rmi, load_, save]
