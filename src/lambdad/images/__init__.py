"""Container images: import, registry pull, content-addressed unpacked layers
shared read-only. Other parts use `ImageStore.resolve` and `ResolvedImage`."""

from lambdad.images.compose import add_mount_points
from lambdad.images.errors import (
    ImageArchitectureMismatch,
    ImageError,
    ImageInvalid,
    ImageNotFound,
    ImageTooLarge,
    ImageUnsupported,
    RegistryUnavailable,
)
from lambdad.images.limits import ImageLimits
from lambdad.images.model import Architecture, ImageRuntimeConfig, ImageStore, ResolvedImage
from lambdad.images.reference import ImageReference, parse_reference
from lambdad.images.registry import RegistrySettingError, parse_registries
from lambdad.images.service import ImageService, ImageSummary
from lambdad.images.store import LocalImages

__all__ = [
    "Architecture",
    "ImageArchitectureMismatch",
    "ImageError",
    "ImageInvalid",
    "ImageLimits",
    "ImageNotFound",
    "ImageReference",
    "ImageRuntimeConfig",
    "ImageService",
    "ImageStore",
    "ImageSummary",
    "ImageTooLarge",
    "ImageUnsupported",
    "LocalImages",
    "RegistrySettingError",
    "RegistryUnavailable",
    "ResolvedImage",
    "add_mount_points",
    "parse_reference",
    "parse_registries",
]
