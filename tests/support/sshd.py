"""A real OpenSSH sshd on loopback: its own config, host key and authorized client key in a folder,
on a free port (the generic driver's host in tests and benches)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answer_each(listener: socket.socket, reply: bytes = b"") -> None:
    """In a thread, until `listener` is closed: send `reply` to each connection and close it (with no reply: a
    port that takes connections and drops them before any SSH banner)."""

    def answer() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if reply:
                conn.sendall(reply)
            conn.close()

    threading.Thread(target=answer, daemon=True).start()


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)


class Sshd:
    """A real sshd on 127.0.0.1:port accepting `client_key` for root (`sftp`: with an SFTP subsystem)."""

    def __init__(self, base: Path, sftp: bool = True):
        self.base = base
        self.port = free_port()
        self.host_key = base / "host_ed25519"
        self.client_key = base / "client_ed25519"
        self.proc: subprocess.Popen[bytes] | None = None
        _keygen(self.host_key)
        _keygen(self.client_key)
        (base / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        (base / "sshd_config").write_text(
            f"""
Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key}
AuthorizedKeysFile {base}/authorized_keys .ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile {base}/sshd.pid
LogLevel ERROR
"""
            + ("Subsystem sftp /usr/lib/openssh/sftp-server\n" if sftp else "")
        )

    def start(self) -> None:
        Path("/run/sshd").mkdir(exist_ok=True)
        with open(self.base / "sshd.log", "ab") as log:
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.base / "sshd_config")], stdout=subprocess.DEVNULL, stderr=log
            )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4) == b"SSH-":
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {(self.base / 'sshd.log').read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes (children of the listening sshd; they outlive its stop)."""
        assert self.proc is not None
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def go_down(self) -> None:
        """Stop as a host that shuts down does: the listener and every session end."""
        sessions = self.session_pids()
        self.stop()
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def new_host_key(self) -> None:
        """Restart with another host key, as a re-installed host (or a man in the middle) would have."""
        self.stop()
        for path in (self.host_key, Path(f"{self.host_key}.pub")):
            path.unlink()
        _keygen(self.host_key)
        self.start()

    def generic_args(self) -> list[str]:
        return [
            "-d",
            "generic",
            "--generic-ip-address",
            "127.0.0.1",
            "--generic-ssh-port",
            str(self.port),
            "--generic-ssh-key",
            str(self.client_key),
        ]


def adopt(server: Sshd, host_key: str, authorized_keys: list[str]) -> None:
    """Give a (not yet started) sshd this host key and these authorized keys, as cloud-init gives an instance
    the ones in its user data."""
    server.host_key.write_text(host_key)
    server.host_key.chmod(0o600)
    Path(f"{server.host_key}.pub").unlink(missing_ok=True)
    (server.base / "authorized_keys").write_text("".join(f"{key}\n" for key in authorized_keys))
