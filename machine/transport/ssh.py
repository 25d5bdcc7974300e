"""SSH to a machine on paramiko: connect with the machine key, pin host keys, run, copy, shell, and ask
the agent whether it answers.

Host keys are pinned per machine (config.json `ssh.host_keys`): the driver's own keys when it injected
them, else the key seen on the first connection at create (trust on first use). A different key later
is refused: that is either a re-installed host or someone in the middle.
"""

from __future__ import annotations

import os
import posixpath
import select
import shlex
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from . import dial
from .relay import Flow, relay, stdin_flow, writer
from .streamlocal import open_streamlocal
from .terminal import raw_terminal

_BACKOFF = (0.1, 0.2)  # short: a booting sshd may drop a login until it is up, and every second counts
_CHECK = "Check that the host is up and its SSH port is reachable, then run `machine provision {}`"


class SSHError(Exception):
    """SSH failed in a way the user can act on; the message says how."""


class HostKeyChanged(SSHError):
    pass


@dataclass
class Target:
    """Everything needed to reach one machine over SSH."""

    name: str
    host: str
    port: int
    user: str
    key_path: Path
    host_keys: list[str] = field(default_factory=list)


def key_line(key: paramiko.PKey) -> str:
    """A host key as an OpenSSH public key line ("ssh-ed25519 AAAA...")."""
    return f"{key.get_name()} {key.get_base64()}"


def load_key(path: Path) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(str(path))
    except FileNotFoundError:
        raise SSHError(f"SSH key {path} is missing: re-create the machine (machine rm, then machine create)") from None
    except (paramiko.SSHException, ValueError) as e:
        raise SSHError(f"cannot read SSH key {path}: {e} (passphrase-protected keys are not supported)") from None


def connect(target: Target, timeout: float = 10.0, learn: Callable[[str], None] | None = None) -> paramiko.Transport:
    """An authenticated transport; the host key must match a pinned one, or is handed to `learn` if none is."""
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError as e:
        raise SSHError(_unreachable(target, e)) from None
    return _log_in(target, sock, timeout, learn)


def _unreachable(target: Target, error: OSError) -> str:
    return f"cannot reach {target.name} at {target.host}:{target.port}: {error.strerror or error}"


def _log_in(
    target: Target, sock: socket.socket, timeout: float, learn: Callable[[str], None] | None
) -> paramiko.Transport:
    """The SSH handshake and login on a connected socket (which the transport owns from then on)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    try:
        if target.host_keys:
            names = sorted({line.split()[0] for line in target.host_keys})
            transport.get_security_options().key_types = [
                t for t in transport.get_security_options().key_types if t in names
            ] or names
        transport.start_client(timeout=timeout)
        seen = key_line(transport.get_remote_server_key())
        if target.host_keys and seen not in [" ".join(k.split()[:2]) for k in target.host_keys]:
            raise HostKeyChanged(
                f"the SSH host key of {target.name} ({target.host}:{target.port}) has changed: refusing to connect. "
                f"If the host was re-installed on purpose, remove the machine (machine rm {target.name}) and "
                f"create it again; otherwise someone may be intercepting the connection."
            )
        if not target.host_keys and learn is not None:
            learn(seen)
        transport.auth_publickey(target.user, load_key(target.key_path))
        return transport
    except paramiko.AuthenticationException:
        transport.close()
        raise SSHError(
            f"{target.user}@{target.host}:{target.port} refused the machine's key "
            f"{target.key_path}: check the SSH user and that the key is authorized"
        ) from None
    except (paramiko.SSHException, EOFError, OSError) as e:
        transport.close()
        raise SSHError(f"SSH to {target.name} at {target.host}:{target.port} failed: {e or type(e).__name__}") from None
    except BaseException:
        transport.close()
        raise


def wait_for_ssh(
    target: Target,
    timeout: float = 120.0,
    learn: Callable[[str], None] | None = None,
    progress: Callable[[str], None] = lambda m: None,
) -> paramiko.Transport:
    """Connect once the host answers (dial.py: overlapping attempts), logging in again with backoff when the
    handshake fails (a booting sshd may drop it) until `timeout`; host key errors and a refused key (after a few
    attempts) are not retried."""
    deadline = time.monotonic() + timeout
    attempts = 0
    said = False

    def waiting(*_: object) -> None:
        nonlocal said
        if not said:
            progress("Waiting for SSH")
            said = True

    while True:
        try:
            sock = dial.first_connection(target.host, target.port, deadline - time.monotonic(), waiting)
        except OSError as e:
            raise SSHError(
                f"{_unreachable(target, e)}; gave up after {timeout:.0f}s. {_CHECK.format(target.name)}"
            ) from None
        tried = time.monotonic()
        try:
            return _log_in(target, sock, min(10.0, max(1.0, deadline - tried)), learn)
        except HostKeyChanged:
            raise
        except SSHError as e:
            if "refused the machine's key" in str(e) and attempts >= 3:
                raise
            # attempts start at most this often: one that timed out waited long enough
            delay = max(0.0, _BACKOFF[min(attempts, len(_BACKOFF) - 1)] - (time.monotonic() - tried))
            if time.monotonic() + delay > deadline:
                raise SSHError(f"{e}; gave up after {timeout:.0f}s. {_CHECK.format(target.name)}") from None
            waiting()
            attempts += 1
            time.sleep(delay)


class Session:
    """Commands and files over one SSH transport (what provisioning needs of a host: see provision.Remote)."""

    def __init__(self, transport: paramiko.Transport):
        self.transport = transport

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def run(self, command: str, timeout: float = 600) -> tuple[int, str, str]:
        """Run a command; returns (exit code, stdout, stderr)."""
        chan = self.transport.open_session(timeout=min(10, timeout))
        chan.settimeout(timeout)
        chan.exec_command(command)
        chan.shutdown_write()
        out, err = bytearray(), bytearray()
        while not (chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready()):
            r, _, _ = select.select([chan], [], [], timeout)
            if not r:
                chan.close()
                raise SSHError(f"`{command}` did not finish within {timeout:.0f}s")
            while chan.recv_ready():
                out += chan.recv(65536)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            if chan.closed and not chan.recv_ready():
                break
        rc = chan.recv_exit_status()
        chan.close()
        return rc, out.decode(errors="replace"), err.decode(errors="replace")

    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None:
        """Write `data` to `path` with `mode`: over SFTP, or through `cat` on an exec channel when the host's
        sshd has no SFTP subsystem."""
        try:
            sftp = self.transport.open_sftp_client()
        except paramiko.SSHException:
            if not self.transport.is_active():
                raise
            self._put_over_exec(data, path, mode)
            return
        with sftp:
            with sftp.open(path, "wb") as f:
                f.set_pipelined(True)
                f.write(data)
            sftp.chmod(path, mode)

    def _put_over_exec(self, data: bytes, path: str, mode: int) -> None:
        chan = self.transport.open_session(timeout=10)
        try:
            chan.exec_command(f"cat > {shlex.quote(path)} && chmod {mode:o} {shlex.quote(path)}")
            chan.sendall(data)
            chan.shutdown_write()
            err = bytearray()
            while chunk := chan.recv_stderr(65536):
                err += chunk
            code = chan.recv_exit_status()
        finally:
            chan.close()
        if code != 0:
            raise SSHError(f"writing {path} on the host failed (exit {code}): {err.decode(errors='replace').strip()}")

    def _sftp(self) -> paramiko.SFTPClient:
        """An SFTP client, or SSHError naming what the host lacks."""
        try:
            return self.transport.open_sftp_client()
        except paramiko.SSHException:
            if not self.transport.is_active():
                raise
            raise SSHError(
                "the host's SSH server has no SFTP subsystem, which copying files needs: add "
                "`Subsystem sftp internal-sftp` to its sshd_config and reload sshd"
            ) from None

    def upload(self, local: Path, remote: str, recursive: bool = False) -> None:
        """Copy a local file (or a tree with `recursive`) to `remote` (like scp: into it if it is a folder)."""
        with self._sftp() as sftp:
            if _remote_is_dir(sftp, remote):
                remote = posixpath.join(remote, local.name)
            if local.is_dir():
                if not recursive:
                    raise SSHError(f"{local} is a directory: use -r")
                _put_tree(sftp, local, remote)
            else:
                sftp.put(str(local), remote)
                sftp.chmod(remote, stat.S_IMODE(local.stat().st_mode))

    def download(self, remote: str, local: Path, recursive: bool = False) -> None:
        """Copy a remote file (or a tree with `recursive`) to `local` (into it if it is a folder)."""
        with self._sftp() as sftp:
            try:
                attrs = sftp.stat(remote)
            except FileNotFoundError:
                raise SSHError(f"{remote}: no such file or directory on the machine") from None
            if local.is_dir():
                local = local / posixpath.basename(remote.rstrip("/"))
            if stat.S_ISDIR(attrs.st_mode or 0):
                if not recursive:
                    raise SSHError(f"{remote} is a directory: use -r")
                _get_tree(sftp, remote, local)
            else:
                sftp.get(remote, str(local))
                local.chmod(stat.S_IMODE(attrs.st_mode or 0o644))

    def interactive(self, command: list[str] | None = None) -> int:
        """A shell (or command) with a PTY when stdin is a terminal, wired to this process; returns its exit code."""
        chan = self.transport.open_session(timeout=10)
        tty = sys.stdin.isatty()
        if tty:
            size = os.get_terminal_size()
            chan.get_pty(term=os.environ.get("TERM", "xterm"), width=size.columns, height=size.lines)
        if command:
            chan.exec_command(" ".join(command))  # as ssh and docker-machine do: the remote shell parses the words
        else:
            chan.invoke_shell()
        if tty and hasattr(signal, "SIGWINCH"):

            def resize(signum: int, frame: object) -> None:
                size = os.get_terminal_size()
                chan.resize_pty(width=size.columns, height=size.lines)

            signal.signal(signal.SIGWINCH, resize)
        with raw_terminal(tty):
            relay(
                Flow(lambda: chan.recv(65536), writer(sys.stdout.buffer)),
                Flow(lambda: chan.recv_stderr(65536), writer(sys.stderr.buffer)),
                detached=[stdin_flow(chan.sendall, chan.shutdown_write)],
            )
        return chan.recv_exit_status()

    def agent_answers(self, socket_path: str) -> bool:
        """True when the agent answers /_ping on `socket_path` through this connection."""
        try:
            chan = open_streamlocal(self.transport, socket_path, timeout=5)
        except (paramiko.SSHException, EOFError, OSError):
            return False
        try:
            chan.settimeout(5)
            chan.sendall(b"GET /_ping HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
            return chan.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False
        finally:
            chan.close()


def _remote_is_dir(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
    except FileNotFoundError:
        return False


def _put_tree(sftp: paramiko.SFTPClient, local: Path, remote: str) -> None:
    if not _remote_is_dir(sftp, remote):
        sftp.mkdir(remote, stat.S_IMODE(local.stat().st_mode))
    for child in sorted(local.iterdir()):
        target = posixpath.join(remote, child.name)
        if child.is_symlink():
            sftp.symlink(os.readlink(child), target)
        elif child.is_dir():
            _put_tree(sftp, child, target)
        else:
            sftp.put(str(child), target)
            sftp.chmod(target, stat.S_IMODE(child.stat().st_mode))


def _get_tree(sftp: paramiko.SFTPClient, remote: str, local: Path) -> None:
    local.mkdir(exist_ok=True)
    for entry in sftp.listdir_attr(remote):
        source, target = posixpath.join(remote, entry.filename), local / entry.filename
        mode = entry.st_mode or 0
        if stat.S_ISLNK(mode):
            target.symlink_to(sftp.readlink(source) or "")
        elif stat.S_ISDIR(mode):
            _get_tree(sftp, source, target)
        else:
            sftp.get(source, str(target))
            target.chmod(stat.S_IMODE(mode))


class Connector:
    """Opens sessions to hosts: how the lifecycle reaches machines (unit tests give it a fake)."""

    def connect(self, target: Target, timeout: float = 10.0) -> Session:
        """A session now, or SSHError."""
        return Session(connect(target, timeout=timeout))

    def wait(
        self,
        target: Target,
        timeout: float,
        learn: Callable[[str], None] | None = None,
        progress: Callable[[str], None] = lambda m: None,
    ) -> Session:
        """A session once the host answers (a booting VM), retrying until `timeout`."""
        return Session(wait_for_ssh(target, timeout=timeout, learn=learn, progress=progress))
