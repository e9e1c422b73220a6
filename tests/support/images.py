"""Container images built by the tests from scratch: layer tars, OCI layouts,
docker-archive tarballs, and a push to a registry over the distribution API.

An image here is a handful of tar entries; `busybox_layer()` gives a tiny real
root filesystem (Debian's static busybox as /bin/sh and friends).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from dataclasses import dataclass, field
from typing import Any

import httpx
import zstandard

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def entry(
    name: str,
    data: bytes = b"",
    *,
    kind: bytes = tarfile.REGTYPE,
    mode: int = 0o644,
    linkname: str = "",
    size: int | None = None,
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.mtime = 1_700_000_000
    info.size = len(data) if size is None else size
    if kind != tarfile.REGTYPE:
        info.size = 0
    return info, data


def file(name: str, data: bytes | str = b"", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, data.encode() if isinstance(data, str) else data, mode=mode)


def directory(name: str, mode: int = 0o755) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, kind=tarfile.DIRTYPE, mode=mode)


def symlink(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, kind=tarfile.SYMTYPE, linkname=target, mode=0o777)


def hardlink(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, kind=tarfile.LNKTYPE, linkname=target)


def layer_tar(
    entries: list[tuple[tarfile.TarInfo, bytes]], *, fmt: int = tarfile.PAX_FORMAT
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=1, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def busybox_layer(bootstrap: str | None = None) -> bytes:
    """A root filesystem of Debian's static busybox: /bin/busybox, /bin/sh and
    a few applets as symlinks, and /var/runtime/bootstrap when given."""
    path = shutil.which("busybox")
    assert path is not None, "busybox-static is installed by scripts/setup.sh --test"
    with open(path, "rb") as f:
        busybox = f.read()
    entries = [
        directory("bin"),
        file("bin/busybox", busybox, mode=0o755),
        *(symlink(f"bin/{applet}", "busybox") for applet in ("sh", "cat", "echo", "env", "ls")),
        directory("tmp", mode=0o1777),
        directory("var"),
        directory("var/runtime"),
    ]
    if bootstrap is not None:
        entries.append(file("var/runtime/bootstrap", bootstrap, mode=0o755))
    return layer_tar(entries)


@dataclass
class BuiltImage:
    layers: list[bytes]  # compressed, as stored
    layer_types: list[str]
    config: bytes
    manifest: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    def oci_layout(self, index: dict[str, Any] | None = None) -> bytes:
        """The image as a tar of an OCI image layout."""
        index = index or {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": self.digest, "size": len(self.manifest)}
            ],
        }
        members = [
            ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
            ("index.json", json.dumps(index).encode()),
        ]
        members += [(f"blobs/sha256/{d[7:]}", data) for d, data in self.blobs.items()]
        return _tar(members)

    def docker_archive(self, tags: tuple[str, ...] = ("app:latest",)) -> bytes:
        """The image as `docker save` writes it (uncompressed layer tars)."""
        layer_names = []
        members = []
        for n, layer in enumerate(self.layers):
            raw = gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer
            name = f"{n:064x}/layer.tar"
            layer_names.append(name)
            members.append((name, raw))
        config_name = digest_of(self.config)[7:] + ".json"
        members.append((config_name, self.config))
        manifest = [{"Config": config_name, "RepoTags": list(tags), "Layers": layer_names}]
        members.append(("manifest.json", json.dumps(manifest).encode()))
        return _tar(members)


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build_image(
    layers: list[bytes],
    *,
    compression: str = "gzip",
    entrypoint: list[str] | None = None,
    cmd: list[str] | None = None,
    env: list[str] | None = None,
    working_dir: str = "",
    architecture: str = "amd64",
    os_name: str = "linux",
) -> BuiltImage:
    """An OCI image of these (uncompressed) layer tars, lowest first."""
    stored = [compress(layer, compression) for layer in layers]
    config_doc = {
        "architecture": architecture,
        "os": os_name,
        "config": {
            "Entrypoint": entrypoint,
            "Cmd": cmd,
            "Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "WorkingDir": working_dir,
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": [digest_of(layer) for layer in layers],
        },
    }
    config = json.dumps(config_doc).encode()
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [
            {"mediaType": LAYER_TYPES[compression], "digest": digest_of(b), "size": len(b)}
            for b in stored
        ],
    }
    manifest = json.dumps(manifest_doc).encode()
    blobs = {digest_of(b): b for b in [*stored, config, manifest]}
    return BuiltImage(stored, [LAYER_TYPES[compression]] * len(stored), config, manifest, blobs)


def push(registry: str, repository: str, tag: str, image: BuiltImage) -> str:
    """Push the image's blobs and manifest (monolithic uploads, as the distribution
    spec describes); returns the manifest digest."""
    with httpx.Client(base_url=registry, timeout=60.0) as http:
        for digest, data in image.blobs.items():
            if data is image.manifest:
                continue
            started = http.post(f"/v2/{repository}/blobs/uploads/")
            assert started.status_code == 202, started.text
            # The upload URL carries the registry's own query (its state): add to it.
            location = httpx.URL(started.headers["location"]).copy_add_param("digest", digest)
            done = http.put(
                location, content=data, headers={"Content-Type": "application/octet-stream"}
            )
            assert done.status_code == 201, done.text
        put = http.put(
            f"/v2/{repository}/manifests/{tag}",
            content=image.manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert put.status_code == 201, put.text
    return image.digest
