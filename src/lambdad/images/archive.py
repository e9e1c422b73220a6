"""Image archives: an OCI image layout in a tar, or `docker save`'s tarball.

The archive is read once, front to back (it may be gzip'd, and is often larger
than memory): every blob is streamed into the blob store and verified on the
way, small JSON files are kept. What is left is a `BlobSource` whose manifests
come from the archive's index and whose blobs are all already stored.

- OCI layout: `oci-layout`, `index.json`, `blobs/sha256/<hex>`; the image is the
  index's one manifest (or the one for this host's platform).
- docker-archive: `manifest.json` lists `{Config, RepoTags, Layers}`; configs and
  layers are files named by path (newer docker writes them under blobs/ too).
  Its manifest is made here, as docker's registry manifest for the same content.

Archive member names are only looked up, never extracted, so a hostile name
reaches no path on the host.
"""

from __future__ import annotations

import json
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lambdad.images.blobs import ImageBlobs
from lambdad.images.errors import ImageInvalid, ImageTooLarge
from lambdad.images.limits import ImageLimits
from lambdad.images.manifest import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    Descriptor,
    load_json,
    sha256_digest,
)
from lambdad.images.unpack import GZIP_MAGIC, Refused, safe_name

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_SMALL = ("index.json", "oci-layout", "manifest.json", "repositories")


@dataclass
class ArchiveSource:
    """Manifests from an archive whose blobs are already in the store."""

    blobs: ImageBlobs
    top: tuple[bytes, str]  # the archive's image: its index or manifest, and media type
    made: dict[str, bytes] = field(default_factory=dict)  # manifests made here, by digest

    def manifest(self, reference: str, image_uri: str) -> tuple[bytes, str]:
        """Any tag names the archive's one image; a digest names a stored manifest."""
        if not reference.startswith("sha256:"):
            return self.top
        if reference in self.made:
            return self.made[reference], ""
        if self.blobs.exists(reference):
            return self.blobs.read(reference), ""
        raise ImageInvalid(image_uri, f"the archive has no manifest {reference}")

    def fetch(self, descriptor: Descriptor, blobs: ImageBlobs, image_uri: str) -> None:
        raise ImageInvalid(image_uri, f"the archive lacks blob {descriptor.digest}")


def read_archive(
    path: Path, blobs: ImageBlobs, limits: ImageLimits, image_uri: str
) -> ArchiveSource:
    """Store the archive's blobs; return a source whose "latest" is its image."""
    small: dict[str, bytes] = {}
    by_name: dict[str, str] = {}  # member path -> digest (docker-archive's files)
    total = 0
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                name = safe_name(member.name) if member.isreg() else None
                if name is None:
                    continue
                total += member.size
                if total > limits.max_bytes:
                    raise ImageTooLarge(
                        image_uri, f"the archive holds more than {limits.max_bytes} bytes"
                    )
                data = tar.extractfile(member)
                assert data is not None
                if name in _SMALL:
                    small[name] = _read_small(data, member.size, limits, image_uri, name)
                    continue
                expected = None
                parts = name.split("/")
                if len(parts) == 3 and parts[:2] == ["blobs", "sha256"]:
                    expected = f"sha256:{parts[2]}"
                    if blobs.exists(expected):
                        # Stored and verified already (a shared layer): its bytes
                        # here are skipped, and the stored ones are what is used.
                        by_name[name] = expected
                        continue
                by_name[name] = blobs.put(
                    _chunks(data, member.size), image_uri, expected=expected, max_size=member.size
                )
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ImageInvalid(image_uri, f"the archive is not a readable tar ({e})") from None
    except Refused as e:
        raise ImageInvalid(image_uri, f"the archive is refused: {e}") from None
    if "index.json" in small:
        return _oci_source(small["index.json"], blobs, limits, image_uri)
    if "manifest.json" in small:
        return _docker_source(small["manifest.json"], by_name, blobs, limits, image_uri)
    raise ImageInvalid(image_uri, "the file is neither an OCI layout nor a docker-archive tar")


def _read_small(data: IO[bytes], size: int, limits: ImageLimits, uri: str, name: str) -> bytes:
    if size > limits.max_document_bytes:
        raise ImageInvalid(uri, f"the archive's {name} is larger than {limits.max_document_bytes}")
    return data.read(size)


def _chunks(data: IO[bytes], size: int) -> Any:
    remaining = size
    while remaining > 0:
        chunk = data.read(min(1 << 20, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def _oci_source(
    index_bytes: bytes, blobs: ImageBlobs, limits: ImageLimits, uri: str
) -> ArchiveSource:
    load_json(index_bytes, uri, "index.json", limits.max_document_bytes)
    # The layout's index is the image's index: the store picks the platform from
    # it, and reads the chosen manifest from the blob store.
    return ArchiveSource(blobs, (index_bytes, OCI_INDEX))


def _docker_source(
    manifest_bytes: bytes,
    by_name: dict[str, str],
    blobs: ImageBlobs,
    limits: ImageLimits,
    uri: str,
) -> ArchiveSource:
    try:
        entries = json.loads(manifest_bytes)
    except ValueError:
        raise ImageInvalid(uri, "the archive's manifest.json is not JSON") from None
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        raise ImageInvalid(uri, "the archive's manifest.json lists no image")
    entry: dict[str, Any] = entries[0]
    config_name, layer_names = entry.get("Config"), entry.get("Layers")
    if not isinstance(config_name, str) or not isinstance(layer_names, list):
        raise ImageInvalid(uri, "the archive's manifest.json lacks Config or Layers")

    def described(name: Any, media_type: str) -> dict[str, Any]:
        clean = safe_name(name) if isinstance(name, str) else None
        digest = by_name.get(clean or "")
        if digest is None:
            raise ImageInvalid(uri, f"the archive lacks {str(name)[:200]!r}")
        return {
            "mediaType": media_type,
            "digest": digest,
            "size": blobs.path(digest).stat().st_size,
        }

    layers = []
    for name in layer_names:
        layer = described(name, DOCKER_LAYER)
        with blobs.path(layer["digest"]).open("rb") as f:
            if f.read(2) == GZIP_MAGIC:
                layer["mediaType"] = DOCKER_LAYER_GZIP
        layers.append(layer)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": described(config_name, DOCKER_CONFIG),
        "layers": layers,
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    return ArchiveSource(blobs, (data, DOCKER_MANIFEST), {sha256_digest(data): data})
