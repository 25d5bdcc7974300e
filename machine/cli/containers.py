"""Container commands through docker-py and the machine's tunnel, for users without the docker CLI.

`machine run|ps|logs|exec|images|load|rmi|pull|tag`, `machine container ...` for the ones whose names
clash with host commands (start, stop, restart, kill, rm, inspect), and `machine docker` which runs the
local docker CLI against the machine. Flags and output follow the docker CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import click

from .. import tunnels
from ..transport import terminal
from .common import complete_machines, docker_host, load, print_table
from .dockerclient import ago, client, fail, machine_option, request


def _env_list(values: tuple[str, ...]) -> list[str]:
    return [v if "=" in v else f"{v}={os.environ.get(v, '')}" for v in values]


def port_bindings(values: tuple[str, ...]) -> dict[str, Any]:
    """-p [IP:]HOSTPORT:CTRPORT[/proto] and -p CTRPORT -> docker-py's ports mapping."""
    ports: dict[str, Any] = {}
    for spec in values:
        proto = "tcp"
        if "/" in spec:
            spec, proto = spec.rsplit("/", 1)
        parts = spec.split(":")
        if len(parts) == 1:
            ports[f"{parts[0]}/{proto}"] = None
        elif len(parts) == 2:
            ports[f"{parts[1]}/{proto}"] = int(parts[0]) if parts[0] else None
        else:
            ports[f"{parts[2]}/{proto}"] = (parts[0], int(parts[1]) if parts[1] else None)
    return ports


@click.command(context_settings={"ignore_unknown_options": False, "allow_interspersed_args": False})
@machine_option
@click.option("-d", "--detach", is_flag=True, help="Run in the background and print the container ID.")
@click.option("--rm", "remove", is_flag=True, help="Remove the container when it exits.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("--name", help="Container name.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("-p", "--publish", multiple=True, help="Publish a port: [IP:]HOSTPORT:CTRPORT[/proto].")
@click.option("-v", "--volume", multiple=True, help="Bind mount or volume: SRC:DST[:ro] or DST.")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.option("-u", "--user", help="Username or UID[:GID].")
@click.option("--entrypoint", help="Overwrite the image's entrypoint.")
@click.option("--network", help="Network to connect to.")
@click.option("--hostname", help="Container host name.")
@click.option("--restart", default="no", help="Restart policy: no, always, unless-stopped, on-failure[:N].")
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(
    machine_name: str | None,
    detach: bool,
    remove: bool,
    interactive: bool,
    tty: bool,
    name: str | None,
    env: tuple[str, ...],
    publish: tuple[str, ...],
    volume: tuple[str, ...],
    workdir: str | None,
    user: str | None,
    entrypoint: str | None,
    network: str | None,
    hostname: str | None,
    restart: str,
    image: str,
    command: tuple[str, ...],
) -> None:
    """Create and start a container (exit code: the container's, like `docker run`)."""
    import docker

    api = client(machine_name).api
    policy_name, _, retries = restart.partition(":")
    host_config = api.create_host_config(
        binds=list(volume) or None,
        port_bindings=port_bindings(publish) or None,
        auto_remove=remove,
        network_mode=network,
        restart_policy={"Name": policy_name, "MaximumRetryCount": int(retries or 0)} if policy_name != "no" else None,
    )
    try:
        created = api.create_container(
            image,
            list(command) or None,
            hostname=hostname,
            user=user,
            detach=detach,
            stdin_open=interactive,
            tty=tty,
            environment=_env_list(env) or None,
            ports=[int(p.split("/")[0]) for p in port_bindings(publish)] or None,
            working_dir=workdir,
            entrypoint=entrypoint.split() if entrypoint else None,
            name=name,
            host_config=host_config,
        )
    except docker.errors.ImageNotFound:
        fail(RuntimeError(f"No such image: {image} (load it with `machine load -i FILE` or pull it)"), 125)
    except docker.errors.APIError as e:
        fail(e, 125)
    cid = created["Id"]
    if detach:
        try:
            api.start(cid)
        except docker.errors.APIError as e:
            fail(e, 126 if "permission denied" in str(e) else 127 if "not found" in str(e) else 125)
        click.echo(cid)
        if publish:
            _warn_unpublished(machine_name, api.inspect_container(cid))
        return
    sock = api.attach_socket(cid, params={"stdin": 1 if interactive else 0, "stdout": 1, "stderr": 1, "stream": 1})
    # like the docker CLI: wait is registered (its headers are back) before start, so no exit is missed
    waiter = request(
        api, "POST", "/containers/{}/wait", cid, stream=True, params={"condition": "removed" if remove else "next-exit"}
    )
    try:
        api.start(cid)
    except docker.errors.APIError as e:
        fail(e, 126 if "permission denied" in str(e) else 127 if "not found" in str(e) else 125)
    if tty and sys.stdout.isatty():
        size = shutil.get_terminal_size()
        api.resize(cid, height=size.lines, width=size.columns)
    terminal.attach(sock, tty=tty, stdin=interactive, resize=lambda h, w: api.resize(cid, height=h, width=w))
    try:
        status = json.loads(waiter.content or b"{}").get("StatusCode", 0)
    except ValueError:
        status = 125
    raise SystemExit(status)


def _warn_unpublished(machine_name: str | None, container: dict[str, Any]) -> None:
    """Say which published ports the tunnel could not open on this computer (once it has seen them)."""
    bindings = (container.get("NetworkSettings") or {}).get("Ports") or {}
    ports = {
        int(b["HostPort"])
        for key, bs in bindings.items()
        if key.endswith("/tcp")
        for b in bs or []
        if b.get("HostPort")
    }
    for port, reason in sorted(tunnels.wait_for_ports(load(machine_name), ports).items()):
        click.echo(f"Warning: port {port}: {reason}", err=True)


@click.command()
@machine_option
@click.option("-a", "--all", "show_all", is_flag=True, help="Show all containers (default shows just running).")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def ps(machine_name: str | None, show_all: bool, quiet: bool, fmt: str) -> None:
    """List containers."""
    rows = client(machine_name).api.containers(all=show_all)
    if quiet:
        for row in rows:
            click.echo(row["Id"][:12])
        return
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps(row))
        return
    table = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]]
    for row in rows:
        command = row["Command"] if len(row["Command"]) <= 20 else row["Command"][:19] + "…"
        ports = ", ".join(
            f"{p.get('IP', '')}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}"
            if "PublicPort" in p
            else f"{p['PrivatePort']}/{p['Type']}"
            for p in row.get("Ports") or []
        )
        table.append(
            [
                row["Id"][:12],
                row["Image"],
                f'"{command}"',
                ago(row["Created"]),
                row["Status"],
                ports,
                ",".join(n.lstrip("/") for n in row["Names"]),
            ]
        )
    print_table(table)


@click.command()
@machine_option
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("-n", "--tail", default="all", help="Number of lines from the end.")
@click.argument("container")
def logs(machine_name: str | None, follow: bool, timestamps: bool, tail: str, container: str) -> None:
    """Print a container's logs."""
    import docker

    api = client(machine_name).api
    try:
        tty = api.inspect_container(container)["Config"]["Tty"]
        response = request(
            api,
            "GET",
            "/containers/{}/logs",
            container,
            stream=True,
            params={"stdout": 1, "stderr": 1, "follow": int(follow), "timestamps": int(timestamps), "tail": tail},
        )
    except docker.errors.APIError as e:
        fail(e)
    demuxer = terminal.Demuxer()
    for data in response.iter_content(chunk_size=None):
        terminal.write_output([(1, data)] if tty else demuxer.feed(data))


@click.command("exec", context_settings={"allow_interspersed_args": False})
@machine_option
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.option("-u", "--user", help="Username or UID[:GID].")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(
    machine_name: str | None,
    interactive: bool,
    tty: bool,
    env: tuple[str, ...],
    workdir: str | None,
    user: str | None,
    container: str,
    command: tuple[str, ...],
) -> None:
    """Run a command in a running container (its exit code is passed through)."""
    import docker

    api = client(machine_name).api
    try:
        exec_id = api.exec_create(
            container,
            list(command),
            stdin=interactive,
            tty=tty,
            environment=_env_list(env) or None,
            workdir=workdir,
            user=user or "",
        )["Id"]
        sock = api.exec_start(exec_id, tty=tty, socket=True)
    except docker.errors.APIError as e:
        fail(e, 126)
    terminal.attach(sock, tty=tty, stdin=interactive, resize=lambda h, w: api.exec_resize(exec_id, height=h, width=w))
    raise SystemExit(api.exec_inspect(exec_id).get("ExitCode") or 0)


def _simple(name: str, help: str, call: str) -> click.Command:
    @click.command(name, help=help)
    @machine_option
    @click.argument("containers", nargs=-1, required=True)
    def command(machine_name: str | None, containers: tuple[str, ...]) -> None:
        import docker

        api = client(machine_name).api
        failed = False
        for container in containers:
            try:
                getattr(api, call)(container)
                click.echo(container)
            except docker.errors.APIError as e:
                click.echo(f"Error response from daemon: {e.explanation}", err=True)
                failed = True
        if failed:
            raise SystemExit(1)

    return command


@click.command("rm")
@machine_option
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container.")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes too.")
@click.argument("containers", nargs=-1, required=True)
def rm(machine_name: str | None, force: bool, volumes: bool, containers: tuple[str, ...]) -> None:
    """Remove containers."""
    import docker

    api = client(machine_name).api
    for container in containers:
        try:
            api.remove_container(container, force=force, v=volumes)
            click.echo(container)
        except docker.errors.APIError as e:
            fail(e)


@click.command("inspect")
@machine_option
@click.argument("objects", nargs=-1, required=True)
def inspect(machine_name: str | None, objects: tuple[str, ...]) -> None:
    """Print containers (or images) as a JSON array."""
    import docker

    api = client(machine_name).api
    found = []
    for ref in objects:
        try:
            found.append(api.inspect_container(ref))
        except docker.errors.NotFound:
            try:
                found.append(api.inspect_image(ref))
            except docker.errors.APIError as e:
                fail(e)
    click.echo(json.dumps(found, indent=4))


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("name", required=False, shell_complete=complete_machines)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def docker(name: str | None, args: tuple[str, ...]) -> None:
    """Run the local docker CLI against a machine: machine docker [NAME] -- ARGS..."""
    if not shutil.which("docker"):
        raise click.ClickException(
            "the docker CLI is not installed here; use the machine's own commands "
            "(machine run, machine ps, ...) instead"
        )
    machine = load(name)
    env = dict(os.environ, DOCKER_HOST=docker_host(machine))
    env.pop("DOCKER_CONTEXT", None)
    raise SystemExit(subprocess.call(["docker", *args], env=env))


@click.command()
@machine_option
@click.option("-a", "--archive", is_flag=True, help="Keep owners (uid/gid) of what is copied.")
@click.argument("source")
@click.argument("destination")
def cp(machine_name: str | None, archive: bool, source: str, destination: str) -> None:
    """Copy files between a container and this computer: CONTAINER:PATH on one side."""
    import io
    import tarfile
    from pathlib import Path

    import docker

    api = client(machine_name).api
    src_container, _, src_path = (
        source.partition(":") if ":" in source and not source.startswith(("/", ".")) else ("", "", source)
    )
    dst_container, _, dst_path = (
        destination.partition(":")
        if ":" in destination and not destination.startswith(("/", "."))
        else ("", "", destination)
    )
    if bool(src_container) == bool(dst_container):
        raise click.UsageError("one side must be CONTAINER:PATH and the other a local path")
    try:
        if src_container:
            stream, _ = api.get_archive(src_container, src_path)
            data = io.BytesIO(b"".join(stream))
            target = Path(dst_path)
            with tarfile.open(fileobj=data) as tar:
                members = tar.getmembers()
                root = members[0].name.split("/")[0] if members else ""
                into = target if target.is_dir() else target.parent
                rename = None if target.is_dir() else target.name
                for member in members:
                    if rename:
                        member.name = rename + member.name[len(root) :]
                    tar.extract(member, into, filter="data")
        else:
            local = Path(src_path)
            if not local.exists():
                raise click.ClickException(f"{src_path}: no such file or directory")
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                tar.add(str(local), local.name)
            api.put_archive(dst_container, dst_path, buffer.getvalue())
    except docker.errors.APIError as e:
        fail(e)


@click.command()
@machine_option
@click.argument("container")
def port(machine_name: str | None, container: str) -> None:
    """List a container's published ports."""
    import docker

    try:
        ports = client(machine_name).api.inspect_container(container)["NetworkSettings"]["Ports"] or {}
    except docker.errors.APIError as e:
        fail(e)
    for key, bindings in sorted(ports.items()):
        for b in bindings or []:
            click.echo(f"{key} -> {b['HostIp']}:{b['HostPort']}")


@click.group()
def container() -> None:
    """Manage containers (docker container ...)."""


CONTAINER_COMMANDS = [
    run,
    ps,
    logs,
    exec_,
    rm,
    inspect,
    cp,
    port,
    _simple("start", "Start containers.", "start"),
    _simple("stop", "Stop containers.", "stop"),
    _simple("restart", "Restart containers.", "restart"),
    _simple("kill", "Kill containers.", "kill"),
]
for _command in CONTAINER_COMMANDS:
    container.add_command(_command)
container.add_command(ps, "ls")

COMMANDS = [container, run, ps, logs, exec_, cp, port, docker]
