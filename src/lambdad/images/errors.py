"""The image store's errors; `api/` renders them like every `LambdadError`.

    InvalidParameterValue
    └── ImageError                  an image that cannot be used (has `image_uri`)
        ├── ImageNotFound           no such repository, tag or digest
        ├── ImageInvalid            corrupt or hostile content (has `reason`)
        ├── ImageTooLarge           over the store's size or file-count bound
        └── ImageUnsupported        a media type, schema or platform we do not run
            └── ImageArchitectureMismatch  the image's CPU architecture is not the function's
    ServiceError
    └── RegistryUnavailable         the registry could not be reached or failed

The messages follow AWS's CreateFunction errors for ImageUri, so the API layer
can render them unchanged.
"""

from __future__ import annotations

from lambdad.errors import InvalidParameterValue, ServiceError


class ImageError(InvalidParameterValue):
    def __init__(self, image_uri: str, message: str) -> None:
        super().__init__(message)
        self.image_uri = image_uri


class ImageNotFound(ImageError):
    def __init__(self, image_uri: str) -> None:
        super().__init__(
            image_uri,
            f"Source image {image_uri} does not exist. Provide a valid source image.",
        )


class ImageInvalid(ImageError):
    def __init__(self, image_uri: str, reason: str) -> None:
        super().__init__(
            image_uri, f"Source image {image_uri} is not valid: {reason}. Provide a valid image."
        )
        self.reason = reason


class ImageTooLarge(ImageError):
    def __init__(self, image_uri: str, reason: str) -> None:
        super().__init__(
            image_uri, f"Source image {image_uri} is too large: {reason}. Provide a smaller image."
        )
        self.reason = reason


class ImageUnsupported(ImageError):
    def __init__(self, image_uri: str, reason: str) -> None:
        super().__init__(
            image_uri,
            f"The image manifest, config or layer media type for the source image {image_uri} "
            f"is not supported: {reason}.",
        )
        self.reason = reason


class ImageArchitectureMismatch(ImageUnsupported):
    """Raised by callers that compare `ResolvedImage.architecture` with a function's
    Architectures (the store resolves an image whatever its architecture)."""

    def __init__(self, image_uri: str, image_architecture: str, function_architecture: str) -> None:
        super().__init__(
            image_uri,
            f"the image is built for {image_architecture}, the function runs on "
            f"{function_architecture}",
        )
        self.image_architecture = image_architecture
        self.function_architecture = function_architecture


class RegistryUnavailable(ServiceError):
    def __init__(self, image_uri: str, reason: str) -> None:
        super().__init__(f"Unable to fetch source image {image_uri}: {reason}.")
        self.image_uri = image_uri
        self.reason = reason
