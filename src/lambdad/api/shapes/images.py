"""Wire shapes of lambdad's own image endpoints (`lambdad images ...`), in the
Lambda API's spelling (PascalCase)."""

from __future__ import annotations

import msgspec


class ImageShape(msgspec.Struct, rename="pascal", omit_defaults=True):
    digest: str
    repository: str
    architecture: str
    size_bytes: int
    names: list[str] = []
    image_uri: str | None = None
    resolved_image_uri: str | None = None
    created: float | None = None


class ListImagesResponse(msgspec.Struct, rename="pascal"):
    images: list[ImageShape]
