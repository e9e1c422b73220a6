"""Container images: import, registry pull, content-addressed unpacked layers
shared read-only. Other parts use `ImageStore.resolve` and `ResolvedImage`."""

from lambdad.images.errors import (
    ImageArchitectureMismatch,
    ImageError,
    ImageInvalid,
    ImageNotFound,
    ImageTooLarge,
    ImageUnsupported,
    RegistryUnavailable,
)
from lambdad.images.fake import FakeImageStore
from lambdad.images.model import Architecture, ImageRuntimeConfig, ImageStore, ResolvedImage
from lambdad.images.reference import ImageReference, parse_reference

__all__ = [
    "Architecture",
    "FakeImageStore",
    "ImageArchitectureMismatch",
    "ImageError",
    "ImageInvalid",
    "ImageNotFound",
    "ImageReference",
    "ImageRuntimeConfig",
    "ImageStore",
    "ImageTooLarge",
    "ImageUnsupported",
    "RegistryUnavailable",
    "ResolvedImage",
    "parse_reference",
]
