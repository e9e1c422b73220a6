"""An in-memory `ImageStore` for tests of the parts above the image store:
images are directories the test made, registered under a URI."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lambdad.images import (
    Architecture,
    ImageNotFound,
    ImageRuntimeConfig,
    ResolvedImage,
    parse_reference,
)


class FakeImageStore:
    def __init__(self) -> None:
        self.images: dict[str, ResolvedImage] = {}
        self.resolved: list[str] = []

    def add(
        self,
        image_uri: str,
        rootfs: Path,
        config: ImageRuntimeConfig | None = None,
        architecture: Architecture = "x86_64",
    ) -> ResolvedImage:
        """Register `rootfs` under `image_uri`; its digest is derived from the URI."""
        reference = parse_reference(image_uri)
        digest = "sha256:" + hashlib.sha256(image_uri.encode()).hexdigest()
        size = sum(p.stat().st_size for p in rootfs.rglob("*") if p.is_file())
        image = ResolvedImage(
            image_uri=str(reference),
            digest=digest,
            resolved_image_uri=reference.pinned(digest),
            rootfs=rootfs,
            config=config or ImageRuntimeConfig(),
            size_bytes=size,
            architecture=architecture,
        )
        self.images[str(reference)] = image
        return image

    def resolve(self, image_uri: str) -> ResolvedImage:
        self.resolved.append(image_uri)
        reference = parse_reference(image_uri)
        image = self.images.get(str(reference))
        if image is None and reference.digest is not None:
            image = self.lookup(reference.digest)
        if image is None:
            raise ImageNotFound(image_uri)
        return image

    def lookup(self, digest: str) -> ResolvedImage | None:
        return next((i for i in self.images.values() if i.digest == digest), None)
