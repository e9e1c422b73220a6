"""The image store the platform uses (`ImageStore`), over local images and the
operator's registries.

How an ImageUri is resolved (the README states the same rule):
1. `repo@sha256:...` (any registry host in front): the image of that digest if it
   is here; else pulled from the registry its host maps to.
2. `repo:tag` (any registry host in front, ECR's included): an image imported
   under `repo:tag` wins; else the tag is looked up now in the registry the
   host maps to (a host without a mapping of its own, and a URI without host,
   go to the default registry).
Nothing is found without a registry for it: `ImageNotFound`, AWS's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lambdad.images.archive import read_archive
from lambdad.images.errors import ImageNotFound
from lambdad.images.model import ResolvedImage
from lambdad.images.reference import parse_local_name, parse_reference
from lambdad.images.registry import Registries
from lambdad.images.store import LocalImages, Progress, quiet


@dataclass(frozen=True)
class ImageSummary:
    """One line of `lambdad images ls`."""

    names: tuple[str, ...]  # imported names; empty for an image pulled from a registry
    repository: str
    digest: str
    architecture: str
    size_bytes: int
    created: float


class ImageService:
    def __init__(self, local: LocalImages, registries: Registries | None = None) -> None:
        self.local = local
        self.registries = registries or Registries()

    def resolve(self, image_uri: str) -> ResolvedImage:
        reference = parse_reference(image_uri)
        found = self.local.find(reference)
        if found is not None:
            return found
        registry = self.registries.for_host(reference.registry)
        if registry is None:
            raise ImageNotFound(str(reference))
        source = registry.source(reference)
        try:
            with self.local.building():
                return self.local.make_ready(reference, source)
        finally:
            source.close()

    def lookup(self, digest: str) -> ResolvedImage | None:
        record = self.local.record(digest)
        if record is None:
            return None
        return self.local.resolved(record, parse_reference(f"{record.repository}@{digest}"))

    def import_archive(self, archive: Path, name: str, progress: Progress = quiet) -> ResolvedImage:
        """Import an OCI-layout tar or a docker-archive under `name` (repo[:tag])."""
        reference = parse_local_name(name)
        progress(0, 1, "reading the archive")
        with self.local.building():
            source = read_archive(archive, self.local.blobs, self.local.limits, str(reference))
            image = self.local.make_ready(reference, source, progress)
            self.local.set_name(reference.local_name, image.digest)
        return image

    def images(self) -> list[ImageSummary]:
        names: dict[str, list[str]] = {}
        for name, digest in self.local.names().items():
            names.setdefault(digest, []).append(name)
        return [
            ImageSummary(
                names=tuple(names.get(r.digest, ())),
                repository=r.repository,
                digest=r.digest,
                architecture=r.architecture,
                size_bytes=r.size_bytes,
                created=r.created,
            )
            for r in self.local.records()
        ]

    def deleted_by(self, name_or_digest: str) -> str | None:
        """The digest whose image `remove(name_or_digest)` would delete (None: another
        name keeps it). Raises ImageNotFound as `remove` does."""
        if name_or_digest.startswith("sha256:"):
            if self.local.record(name_or_digest) is None:
                raise ImageNotFound(name_or_digest)
            return name_or_digest
        reference = parse_local_name(name_or_digest)
        names = self.local.names()
        digest = names.pop(reference.local_name, None)
        if digest is None:
            raise ImageNotFound(str(reference))
        return None if digest in names.values() else digest

    def refetchable(self, image_uri: str) -> bool:
        """Whether an image deleted here comes back from a registry (a pulled one: a
        cold start pulls it again by digest) rather than being gone (an imported one)."""
        return self.registries.for_host(parse_reference(image_uri).registry) is not None

    def remove(self, name_or_digest: str) -> None:
        """Remove an imported name (`repo:tag`), or a pulled image by digest. What
        becomes of the functions that run it is the API's (`catalog/image_users.py`)."""
        if name_or_digest.startswith("sha256:"):
            if self.local.record(name_or_digest) is None:
                raise ImageNotFound(name_or_digest)
            for name, digest in self.local.names().items():
                if digest == name_or_digest:
                    self.local.remove_name(name)
            self.local.remove_image(name_or_digest)
            return
        reference = parse_local_name(name_or_digest)
        if self.local.remove_name(reference.local_name) is None:
            raise ImageNotFound(str(reference))
