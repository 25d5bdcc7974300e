"""A tiny container image from the local busybox-static (Debian package), built offline as a `docker save` tar.

Used by the quickstart (there may be no registry to pull from) and by the tests.
Run `python -m machine.busybox OUT.tar [TAG]` to write one.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

BUSYBOX = Path("/bin/busybox")


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def rootfs_tar() -> bytes:
    """A root filesystem: busybox with a symlink per applet, /etc/passwd and group, usual dirs."""
    if not BUSYBOX.exists() or shutil.which("busybox") is None:
        raise RuntimeError("busybox-static is not installed: apt-get install busybox-static")
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "etc", "root", "home", "var", "var/www", "dev", "proc", "sys", "usr", "usr/bin"):
            _add_dir(tar, d)
        _add_dir(tar, "tmp", 0o1777)
        tar.add(str(BUSYBOX), "bin/busybox")
        for applet in applets:
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
                tar.addfile(link)
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
        _add_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        _add_file(tar, "var/www/index.html", b"hello from busybox httpd\n")
    return buf.getvalue()


def image_tar(path: Path, tag: str = "busybox:test") -> str:
    """Write a `docker save` tar (manifest.json + <id>.json + <layer>/layer.tar); return the image ID."""
    layer = rootfs_tar()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "busybox-static from Debian"}],
    }
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    image_id = hashlib.sha256(config_bytes).hexdigest()
    layer_dir = diff_id.split(":")[1]
    with tarfile.open(path, "w") as tar:
        _add_dir(tar, layer_dir)
        _add_file(tar, f"{layer_dir}/layer.tar", layer)
        _add_file(tar, f"{image_id}.json", config_bytes)
        manifest = [{"Config": f"{image_id}.json", "RepoTags": [tag], "Layers": [f"{layer_dir}/layer.tar"]}]
        _add_file(tar, "manifest.json", json.dumps(manifest).encode())
    return "sha256:" + image_id


def oci_image_tar(path: Path, tag: str = "busybox:oci", gzip_layer: bool = True) -> str:
    """The same image in the OCI layout Docker 25+ saves (index.json + blobs/sha256), gzip layer; returns its ID."""
    import gzip

    layer = rootfs_tar()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    blob = gzip.compress(layer, mtime=0) if gzip_layer else layer
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-02-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-02-01T00:00:00Z", "created_by": "oci test layer"}],
    }
    config_bytes = json.dumps(config).encode()

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(blob), "size": len(blob)}
        ],
    }
    manifest_bytes = json.dumps(manifest).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": manifest["mediaType"],
                "digest": digest(manifest_bytes),
                "size": len(manifest_bytes),
                "annotations": {"io.containerd.image.name": tag},
            }
        ],
    }
    with tarfile.open(path, "w") as tar:
        _add_file(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add_file(tar, "index.json", json.dumps(index).encode())
        for data in (config_bytes, manifest_bytes, blob):
            _add_file(tar, "blobs/sha256/" + digest(data)[7:], data)
    return digest(config_bytes)


if __name__ == "__main__":
    import sys

    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m machine.busybox OUT.tar [TAG]")
    print(image_tar(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) == 3 else "busybox:latest"))
