"""Pull and push against a real registry (Debian's docker-registry) on loopback."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from machine.busybox import oci_image_tar
from tests.support.agent import IMAGE, Agent
from tests.support.registry import Registry

pytestmark = pytest.mark.containers


def test_push_rmi_pull_keeps_the_image_id(agent: Agent, registry: Registry) -> None:
    name = f"{registry.address}/team/busybox:v1"
    image_id = json.loads(agent.docker("image", "inspect", IMAGE).stdout)[0]["Id"]
    agent.docker("tag", IMAGE, name)
    pushed = agent.docker("push", name).stdout
    assert "digest: sha256:" in pushed
    again = agent.docker("push", name).stdout
    assert "Layer already exists" in again
    agent.docker("rmi", name)
    pulled = agent.docker("pull", name).stdout
    assert "Downloaded newer image" in pulled or "Already exists" in pulled
    info = json.loads(agent.docker("image", "inspect", name).stdout)[0]
    assert info["Id"] == image_id and any(
        d.startswith(f"{registry.address}/team/busybox@sha256:") for d in info["RepoDigests"]
    )
    assert agent.docker("run", "--rm", name, "echo", "pulled").stdout == "pulled\n"
    agent.docker("rmi", name)


def test_pull_of_a_fresh_image_downloads_its_layers(fresh_agent: Agent, registry: Registry, tmp_path: Path) -> None:
    name = f"{registry.address}/fresh/oci:1"
    oci_image_tar(tmp_path / "oci.tar", name)
    fresh_agent.docker("load", "-i", str(tmp_path / "oci.tar"))
    fresh_agent.docker("push", name)
    fresh_agent.docker("rmi", name, "busybox:test")
    assert fresh_agent.docker("images", "-q").stdout == ""
    output = fresh_agent.docker("pull", name).stdout
    assert "Pull complete" in output
    assert fresh_agent.docker("run", "--rm", name, "echo", "fresh").stdout == "fresh\n"


def test_missing_image_and_unreachable_registry(agent: Agent, registry: Registry) -> None:
    missing = agent.docker("pull", f"{registry.address}/nope/nothing:1", check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr
    down = agent.docker("pull", "127.0.0.1:1/x/y:1", check=False)
    assert down.returncode != 0 and "cannot reach registry" in down.stderr


@pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo is not installed")
def test_skopeo_reads_what_we_pushed(agent: Agent, registry: Registry, tmp_path: Path) -> None:
    name = f"{registry.address}/interop/busybox:s"
    agent.docker("tag", IMAGE, name)
    agent.docker("push", name)
    copied = subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{name}", f"oci:{tmp_path / 'layout'}:s"],
        capture_output=True,
        text=True,
    )
    assert copied.returncode == 0, copied.stderr
    agent.docker("rmi", name)


@pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo is not installed")
@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_we_pull_what_skopeo_pushed(fresh_agent: Agent, registry: Registry, tmp_path: Path, fmt: str) -> None:
    name = f"{registry.address}/skopeo/{fmt}:1"
    oci_image_tar(tmp_path / "oci.tar", "x:1")
    pushed = subprocess.run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--format",
            fmt,
            f"oci-archive:{tmp_path / 'oci.tar'}",
            f"docker://{name}",
        ],
        capture_output=True,
        text=True,
    )
    assert pushed.returncode == 0, pushed.stderr
    fresh_agent.docker("pull", name)
    assert fresh_agent.docker("run", "--rm", name, "echo", fmt).stdout == f"{fmt}\n"


def test_basic_auth_login_push_pull(fresh_agent: Agent, tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import crypt
    (tmp_path / "htpasswd").write_text(f"tester:{crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    (tmp_path / "reg").mkdir()
    guarded = Registry(tmp_path / "reg", htpasswd=tmp_path / "htpasswd")
    try:
        name = f"{guarded.address}/private/busybox:1"
        fresh_agent.docker("tag", IMAGE, name)
        refused = fresh_agent.docker("push", name, check=False)
        assert refused.returncode != 0 and ("login" in refused.stderr or "unauthorized" in refused.stderr)
        bad = fresh_agent.docker(
            "login", "-u", "tester", "--password-stdin", guarded.address, input="wrong\n", check=False
        )
        assert bad.returncode != 0
        fresh_agent.docker("login", "-u", "tester", "--password-stdin", guarded.address, input="s3cret\n")
        fresh_agent.docker("push", name)
        fresh_agent.docker("rmi", name)
        fresh_agent.docker("pull", name)
    finally:
        guarded.stop()


def test_cross_repository_mount(agent: Agent, registry: Registry) -> None:
    first, second = f"{registry.address}/mount/a:1", f"{registry.address}/mount/b:1"
    agent.docker("tag", IMAGE, first)
    agent.docker("push", first)
    agent.docker("tag", IMAGE, second)
    assert "Mounted from " in agent.docker("push", second).stdout  # from mount/a, or an earlier repository
    agent.docker("rmi", first, second)


class TokenServer:
    """A bearer-token service as distribution expects it: RS256 JWTs with an x5c certificate, behind basic auth."""

    def __init__(self, base: Path, user: str, password: str):
        import datetime
        import http.server
        import threading

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "machine test token issuer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = base / "token-ca.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.headers.get("Authorization") != f"Basic {outer.credentials}":
                    self.send_response(401)
                    self.end_headers()
                    return
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                body = json.dumps({"token": outer.token(query.get("scope", [""])[0])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, scope: str) -> str:
        import time

        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        _, name, actions = ([*scope.split(":"), "", "", ""])[:3]
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {
            "iss": "machine-test",
            "sub": "tester",
            "aud": "machine-test-registry",
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "access": [{"type": "repository", "name": name, "actions": actions.split(",")}] if name else [],
        }
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64(signature)}"

    def stop(self) -> None:
        self.server.shutdown()


def test_bearer_token_auth(fresh_agent: Agent, tmp_path: Path) -> None:
    tokens = TokenServer(tmp_path, "tester", "t0ken")
    (tmp_path / "reg").mkdir()
    guarded = Registry(
        tmp_path / "reg",
        token={
            "realm": tokens.realm,
            "service": "machine-test-registry",
            "issuer": "machine-test",
            "rootcertbundle": str(tokens.bundle),
        },
    )
    try:
        name = f"{guarded.address}/tokens/busybox:1"
        fresh_agent.docker("tag", IMAGE, name)
        refused = fresh_agent.docker("push", name, check=False)
        assert refused.returncode != 0 and "unauthorized" in (refused.stderr + refused.stdout).lower()
        fresh_agent.docker("login", "-u", "tester", "--password-stdin", guarded.address, input="t0ken\n")
        assert "digest: sha256:" in fresh_agent.docker("push", name).stdout
        fresh_agent.docker("rmi", name)
        fresh_agent.docker("pull", name)
        assert fresh_agent.docker("run", "--rm", name, "echo", "token-ok").stdout == "token-ok\n"
    finally:
        guarded.stop()
        tokens.stop()
