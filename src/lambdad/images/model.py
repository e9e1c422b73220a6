"""What the image store hands the rest of the platform: a resolved image.

A `ResolvedImage` is an image whose manifest, config and layers were fetched,
verified and unpacked: `rootfs` is a directory tree ready to be mounted
read-only as an environment's `/`, shared by every environment of that digest
(never written to: the sandbox mounts it read-only). `ImageStore.resolve`
blocks (a pull may take minutes): callers on the event loop go through
`lambdad.concurrency.run_sync`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

# Lambda's spelling of an image's CPU architecture (the function's Architectures).
Architecture = Literal["x86_64", "arm64"]


@dataclass(frozen=True)
class ImageRuntimeConfig:
    """The parts of the OCI image config that decide how the image starts
    (Lambda's ImageConfig overrides entrypoint, cmd and working_dir)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ResolvedImage:
    image_uri: str  # as the user gave it, normalized (repo:tag or repo@sha256:...)
    digest: str  # "sha256:<hex>" of the image manifest
    resolved_image_uri: str  # repo@digest (GetFunction's ResolvedImageUri)
    rootfs: Path  # the flattened root filesystem, read-only, shared per digest
    config: ImageRuntimeConfig
    size_bytes: int  # uncompressed size of the root filesystem (CodeSize)
    architecture: Architecture


class ImageStore(Protocol):
    """Images by URI. Contract: `resolve` returns only fully verified and
    unpacked images; a failure raises an `ImageError` and leaves nothing half
    made that a later call would take for ready. Concurrent resolves of one
    image fetch and unpack it once."""

    def resolve(self, image_uri: str) -> ResolvedImage:
        """The image `image_uri` names (a tag is looked up now; a digest is
        fixed), fetched and unpacked if it is not yet. Raises `ImageNotFound`,
        `ImageInvalid`, `ImageTooLarge`, `ImageUnsupported`, `RegistryUnavailable`."""
        ...

    def lookup(self, digest: str) -> ResolvedImage | None:
        """An image already resolved, by manifest digest ("sha256:<hex>"), or
        None when it is not (or no longer) here; never fetches."""
        ...
