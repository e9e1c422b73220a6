"""OCI and docker manifests, indexes and image configs: parsed, checked, bounded.

Documents come from a registry or an archive and are hostile: each is size
bounded, must be a JSON object of a known media type, and names blobs only by
sha256 digests (the store's only algorithm).
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from dataclasses import dataclass
from typing import Any

from lambdad.images.errors import ImageInvalid, ImageUnsupported
from lambdad.images.model import Architecture, ImageRuntimeConfig

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
CONFIG_TYPES = (
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
)
LAYER_TYPES = (
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
)
# An OCI architecture -> Lambda's name for it.
ARCHITECTURES: dict[str, Architecture] = {"amd64": "x86_64", "arm64": "arm64"}
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str  # sha256:<hex>
    size: int
    platform: tuple[str, str] = ("", "")  # (os, architecture), in an index

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


@dataclass(frozen=True)
class Manifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class ImageConfig:
    runtime: ImageRuntimeConfig
    architecture: Architecture


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def load_json(data: bytes, image_uri: str, what: str, max_bytes: int) -> dict[str, Any]:
    if len(data) > max_bytes:
        raise ImageInvalid(image_uri, f"the {what} is larger than {max_bytes} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ImageInvalid(image_uri, f"the {what} is not JSON") from None
    if not isinstance(doc, dict):
        raise ImageInvalid(image_uri, f"the {what} is not a JSON object")
    return doc


def media_type_of(doc: dict[str, Any], given: str = "") -> str:
    """A document's media type: its own mediaType member, else what the registry
    said (Content-Type), else what its shape says."""
    own = doc.get("mediaType")
    if isinstance(own, str) and own:
        return own
    if given and given.split(";")[0].strip() not in ("", "application/json"):
        return given.split(";")[0].strip()
    if "manifests" in doc:
        return OCI_INDEX
    return OCI_MANIFEST if "layers" in doc else ""


def descriptor(raw: Any, image_uri: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise ImageInvalid(image_uri, "a descriptor is not an object")
    media_type, digest, size = raw.get("mediaType"), raw.get("digest"), raw.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str):
        raise ImageInvalid(image_uri, "a descriptor lacks mediaType or digest")
    if not _DIGEST.match(digest):
        raise ImageUnsupported(image_uri, f"digest {digest[:80]!r} is not sha256")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ImageInvalid(image_uri, f"descriptor {digest} has no valid size")
    found = raw.get("platform")
    plat = ("", "")
    if isinstance(found, dict):
        plat = (str(found.get("os", "")), str(found.get("architecture", "")))
    return Descriptor(media_type, digest, size, plat)


def host_architecture() -> str:
    """The OCI name of this machine's architecture."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def pick_manifest(index: dict[str, Any], image_uri: str) -> Descriptor:
    """From an index (OCI, or docker's manifest list), the image for linux on this
    host's architecture, else for Lambda's other architecture."""
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise ImageInvalid(image_uri, "the image index lists no manifests")
    found = [descriptor(m, image_uri) for m in manifests]
    images = [d for d in found if d.media_type in MANIFEST_TYPES]
    if len(images) == 1 and images[0].platform == ("", ""):
        return images[0]  # an OCI layout's index of one image names no platform
    if len(images) > 1 and all(d.platform == ("", "") for d in images):
        raise ImageInvalid(
            image_uri,
            f"the index lists {len(images)} images and no platforms: one image per archive",
        )
    for arch in (host_architecture(), *ARCHITECTURES):
        for d in images:
            if d.platform == ("linux", arch):
                return d
    raise ImageUnsupported(image_uri, "the image index has no linux/amd64 or linux/arm64 image")


def parse_manifest(
    doc: dict[str, Any], media_type: str, image_uri: str, max_layers: int
) -> Manifest:
    if media_type not in MANIFEST_TYPES:
        raise ImageUnsupported(image_uri, f"manifest media type {media_type[:100]!r}")
    if doc.get("schemaVersion") != 2:
        raise ImageUnsupported(image_uri, "manifest schemaVersion is not 2")
    config = descriptor(doc.get("config"), image_uri)
    if config.media_type not in CONFIG_TYPES:
        raise ImageUnsupported(image_uri, f"config media type {config.media_type[:100]!r}")
    raw_layers = doc.get("layers")
    if not isinstance(raw_layers, list):
        raise ImageInvalid(image_uri, "the manifest lists no layers")
    if len(raw_layers) > max_layers:
        raise ImageInvalid(image_uri, f"the manifest has more than {max_layers} layers")
    layers = tuple(descriptor(layer, image_uri) for layer in raw_layers)
    for layer in layers:
        if layer.media_type not in LAYER_TYPES:
            raise ImageUnsupported(image_uri, f"layer media type {layer.media_type[:100]!r}")
    return Manifest(config, layers)


def _strings(value: Any, image_uri: str, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageInvalid(image_uri, f"the config's {what} is not a list of strings")
    return tuple(value)


def parse_config(doc: dict[str, Any], image_uri: str) -> ImageConfig:
    os_name, arch = doc.get("os"), doc.get("architecture")
    if os_name != "linux":
        raise ImageUnsupported(image_uri, f"the image is for os {str(os_name)[:40]!r}, not linux")
    if arch not in ARCHITECTURES:
        raise ImageUnsupported(image_uri, f"the image's architecture {str(arch)[:40]!r}")
    section = doc.get("config") or {}
    if not isinstance(section, dict):
        raise ImageInvalid(image_uri, "the image config's config is not an object")
    env: list[tuple[str, str]] = []
    for item in _strings(section.get("Env"), image_uri, "Env"):
        key, _, value = item.partition("=")
        if key:
            env.append((key, value))
    working_dir = section.get("WorkingDir") or ""
    if not isinstance(working_dir, str):
        raise ImageInvalid(image_uri, "the config's WorkingDir is not a string")
    runtime = ImageRuntimeConfig(
        entrypoint=_strings(section.get("Entrypoint"), image_uri, "Entrypoint"),
        cmd=_strings(section.get("Cmd"), image_uri, "Cmd"),
        working_dir=working_dir,
        env=tuple(env),
    )
    return ImageConfig(runtime, ARCHITECTURES[arch])
