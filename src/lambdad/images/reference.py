"""Image references: what an ImageUri names, and how it is written back.

`registry/repository[:tag][@sha256:hex]` as the distribution spec's reference
grammar has it. The first path component is a registry host when it has a dot
or a colon or is `localhost` (docker's rule); otherwise the whole path is the
repository (`repo:tag`, `team/app:v1`). A reference without tag or digest
means `:latest`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdad.images.errors import ImageInvalid

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
# Amazon ECR's registry host: <account>.dkr.ecr.<region>.amazonaws.com
ECR_HOST = re.compile(r"^[0-9]{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$")
# Lambda's own bound on ImageUri's length is not in the model; the distribution
# spec allows 255 characters of repository name, plus host, tag and digest.
MAX_REFERENCE = 512


@dataclass(frozen=True)
class ImageReference:
    registry: str  # "" when the reference names no registry host
    repository: str
    tag: str | None
    digest: str | None  # "sha256:<hex>"

    @property
    def named(self) -> str:
        """registry/repository, or the repository alone."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def __str__(self) -> str:
        text = self.named
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    def pinned(self, digest: str) -> str:
        """The reference fixed to a manifest digest (ResolvedImageUri's form)."""
        return f"{self.named}@{digest}"

    @property
    def local_name(self) -> str:
        """repository:tag, the name an imported image is found by."""
        return f"{self.repository}:{self.tag or 'latest'}"


def parse_reference(text: str) -> ImageReference:
    """Parse an ImageUri; raises `ImageInvalid` for anything the grammar refuses."""
    uri = text.strip()
    if not uri or len(uri) > MAX_REFERENCE:
        raise ImageInvalid(uri or "''", "the image URI is empty or too long")
    rest, digest = uri, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise ImageInvalid(uri, f"{digest!r} is not a sha256 digest")
    registry = ""
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if not _HOST.match(first):
            raise ImageInvalid(uri, f"{first!r} is not a registry host")
        registry, rest = first, remainder
    repository, tag = rest, None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        repository, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            raise ImageInvalid(uri, f"{tag!r} is not a valid tag")
    if not _REPOSITORY.match(repository) or len(repository) > 255:
        raise ImageInvalid(uri, f"{repository!r} is not a valid repository name")
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(registry=registry, repository=repository, tag=tag, digest=digest)


def parse_local_name(text: str) -> ImageReference:
    """A name for an imported image (`repo:tag`, `repo`): a reference without digest."""
    reference = parse_reference(text)
    if reference.digest is not None:
        raise ImageInvalid(text, "an imported image is named by repository and tag, not digest")
    return reference
