"""The cloud-image path's host side: the NoCloud seed ISO, the user data, the cloud image cache (from a path
or from an HTTP server in this process)."""

from __future__ import annotations

import email
import functools
import gzip
import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest

from machine.vm import cloudimage, cloudinit, iso9660
from machine.vm.images import ImageCache, ImageError

HOST_KEY = (b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", "ssh-ed25519 AAAAhost")


def test_iso_holds_the_files_under_their_names_and_the_label(tmp_path: Path) -> None:
    if not shutil.which("xorriso"):
        pytest.skip("xorriso is not installed (tests/run installs it)")
    files = {"user-data": b"#cloud-config\n" + b"x" * 5000, "meta-data": b"instance-id: i-1\n", "vendor-data": b""}
    iso9660.write(tmp_path / "seed.iso", "cidata", files)
    probed = subprocess.run(
        ["blkid", "-o", "export", str(tmp_path / "seed.iso")], capture_output=True, text=True
    ).stdout.splitlines()
    assert "LABEL=cidata" in probed and "TYPE=iso9660" in probed
    out = tmp_path / "out"
    subprocess.run(
        ["xorriso", "-indev", str(tmp_path / "seed.iso"), "-osirrox", "on", "-extract", "/", str(out)],
        check=True,
        capture_output=True,
    )
    assert {p.name.lower().rstrip("."): p.read_bytes() for p in out.iterdir()} == files


def test_user_data_creates_the_user_and_installs_the_host_keys(tmp_path: Path) -> None:
    text = cloudinit.user_data("box", "ssh-ed25519 AAAAuser me", {"ed25519": HOST_KEY})
    assert text.startswith("#cloud-config\n")
    config = json.loads(text.split("\n", 1)[1])  # JSON is YAML: what cloud-init reads
    assert config["users"][0]["name"] == cloudinit.USER
    assert config["users"][0]["ssh_authorized_keys"] == ["ssh-ed25519 AAAAuser me"]
    assert config["users"][0]["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
    assert config["ssh_keys"] == {"ed25519_private": HOST_KEY[0].decode(), "ed25519_public": HOST_KEY[1]}
    assert config["ssh_deletekeys"] is True and config["ssh_genkeytypes"] == ["ed25519"]
    assert config["hostname"] == "box" and config["ssh_pwauth"] is False


@pytest.fixture
def cache(tmp_path: Path) -> ImageCache:
    return ImageCache(tmp_path / "cache")


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "www").mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_cloud_images_are_cached_from_a_path_or_a_url(cache: ImageCache, tmp_path: Path, web: str) -> None:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "www/cloud.qcow2"), "64M"], check=True)
    seen: list[str] = []
    folder = cloudimage.ensure(cache, str(tmp_path / "www/cloud.qcow2"), seen.append)
    assert folder == cache.root / "cloud" and cloudimage.disk_format(folder) == "qcow2"
    assert (folder / cloudimage.DISK).read_bytes() == (tmp_path / "www/cloud.qcow2").read_bytes()
    assert any("Copying" in line for line in seen)
    seen.clear()
    assert cloudimage.ensure(cache, str(tmp_path / "www/cloud.qcow2"), seen.append) == folder and not seen  # cached
    # a newer image at the same path (a fresh download over the old one) is copied again
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "www/cloud.qcow2"), "96M"], check=True)
    assert cloudimage.ensure(cache, str(tmp_path / "www/cloud.qcow2"), seen.append) == folder
    assert any("Copying" in line for line in seen)
    assert (folder / cloudimage.DISK).read_bytes() == (tmp_path / "www/cloud.qcow2").read_bytes()
    seen.clear()
    folder = cloudimage.ensure(cache, f"{web}/cloud.qcow2", seen.append)  # another source: fetched again
    assert any("Downloading" in line for line in seen) and cloudimage.disk_format(folder) == "qcow2"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"] == f"{web}/cloud.qcow2" and manifest["files"][cloudimage.DISK]["sha256"]


def test_bad_cloud_images_are_clear_errors_and_leave_nothing(cache: ImageCache, tmp_path: Path, web: str) -> None:
    (tmp_path / "www/page.html").write_text("<html>not an image</html>")
    with pytest.raises(ImageError, match="neither qcow2 nor a bootable raw disk"):
        cloudimage.ensure(cache, f"{web}/page.html", lambda line: None)
    with pytest.raises(ImageError, match="cannot fetch the cloud image .*404"):
        cloudimage.ensure(cache, f"{web}/missing.qcow2", lambda line: None)
    with pytest.raises(ImageError, match="cannot fetch the cloud image"):
        cloudimage.ensure(cache, str(tmp_path / "nowhere.qcow2"), lambda line: None)
    assert not list(cache.root.iterdir())


def test_user_data_for_another_user_with_more_keys() -> None:
    text = cloudinit.user_data("box", "ssh-ed25519 AAAAuser me", {"ed25519": HOST_KEY}, "admin", ["ssh-rsa AAAAB own"])
    user = json.loads(text.split("\n", 1)[1])["users"][0]
    assert user["name"] == "admin" and user["ssh_authorized_keys"] == ["ssh-ed25519 AAAAuser me", "ssh-rsa AAAAB own"]


def _parts(merged: str) -> list[tuple[str, str, str | None]]:
    message = email.message_from_string(merged)
    assert message.get_content_type() == "multipart/mixed"
    return [
        (part.get_content_type(), part.get_payload(decode=True).decode(), part["Merge-Type"])
        for part in message.walk()
        if not part.is_multipart()
    ]


def test_merged_user_data_has_ours_first_then_theirs_typed_as_cloud_init_would() -> None:
    ours = cloudinit.user_data("box", "ssh-ed25519 AAAAuser me", {"ed25519": HOST_KEY})
    theirs = "#cloud-config\nruncmd: [touch /ran]\nhostname: theirs\n"
    assert _parts(cloudinit.merge(ours, theirs.encode())) == [
        ("text/cloud-config", ours, None),
        ("text/cloud-config", theirs, cloudinit.THEIR_MERGE),  # appended lists, our values kept
    ]
    script = "#!/bin/sh\necho hi > /hi\n"
    assert _parts(cloudinit.merge(ours, gzip.compress(script.encode())))[1] == ("text/x-shellscript", script, None)
    assert _parts(cloudinit.merge(ours, b"#cloud-config-archive\n[]\n"))[1][0] == "text/cloud-config-archive"
    assert _parts(cloudinit.merge(ours, b"#include https://example.com/ud\n"))[1][0] == "text/x-include-url"


def test_their_mime_parts_are_kept_with_their_own_merge_type() -> None:
    theirs = MIMEMultipart()
    theirs.attach(MIMEText("#!/bin/sh\ntrue\n", "x-shellscript"))
    config = MIMEText("#cloud-config\npackages: [jq]\n", "cloud-config")
    config["Merge-Type"] = "list(replace)+dict(replace)"
    theirs.attach(config)
    parts = _parts(cloudinit.merge("#cloud-config\n{}\n", theirs.as_bytes()))
    assert [(t, m) for t, _, m in parts] == [
        ("text/cloud-config", None),
        ("text/x-shellscript", None),
        ("text/cloud-config", "list(replace)+dict(replace)"),
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"apt-get install jq\n", "cloud-init would ignore it"),
        (b"\xff\xfe binary", "neither UTF-8 text nor gzip"),
        (b"\x1f\x8b broken", "does not decompress"),
    ],
)
def test_user_data_cloud_init_would_not_read_is_refused(data: bytes, error: str) -> None:
    with pytest.raises(cloudinit.UserDataError, match=error):
        cloudinit.merge("#cloud-config\n{}\n", data)
