"""Debian's docker-registry on a loopback port: the real registry that pull, push and login tests use."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


class Registry:
    """Debian's docker-registry (distribution) on a loopback port, optionally with htpasswd basic auth."""

    def __init__(self, base: Path, htpasswd: Path | None = None, token: dict[str, str] | None = None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        auth = (f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n") if htpasswd else ""
        if token:  # realm, service, issuer, rootcertbundle
            auth = "auth:\n  token:\n" + "".join(f"    {k}: {v}\n" for k, v in token.items())
        (base / "config.yml").write_text(
            f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {base / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n{auth}log:\n  level: error\n"
        )
        with open(base / "registry.log", "ab") as log:
            self.proc = subprocess.Popen(
                ["docker-registry", "serve", str(base / "config.yml")], stdout=subprocess.DEVNULL, stderr=log
            )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log_text = (base / "registry.log").read_text()
                    raise RuntimeError(f"docker-registry did not start: {log_text}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
