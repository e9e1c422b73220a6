"""A function's code as a container image (PackageType Image): AWS's rules for which
parameters go with which package type, and the image an ImageUri names.

The image store (`lambdad.images`) fetches and unpacks; this decides what a
function may ask for and pins what it got: a version keeps the manifest digest
it was created or published with (its `code_key`), whatever its tag names later.
"""

from __future__ import annotations

import dataclasses

from lambdad.catalog.model import FunctionConfig, ImageConfig
from lambdad.concurrency import run_sync
from lambdad.errors import InvalidParameterValue
from lambdad.images import ImageArchitectureMismatch, ImageStore, ResolvedImage

IMAGE = "Image"
ZIP = "Zip"
IMAGE_CONFIG_LIST_MAX = 1500
WORKING_DIRECTORY_MAX = 1000


def check_image_package(config: FunctionConfig) -> None:
    """What an Image function must not have (AWS refuses Runtime, Handler and Layers)."""
    if config.runtime or config.handler or config.layers:
        raise InvalidParameterValue(
            "Please don't provide Handler or Runtime or Layer when the intended function "
            "PackageType is Image."
        )


def check_create_sources(package_type: str, image_uri: str | None, has_zip: bool) -> None:
    """CreateFunction's Code for its PackageType: an ImageUri exactly when Image."""
    if package_type == IMAGE:
        if has_zip:
            raise InvalidParameterValue(
                "Please don't provide ZipFile or S3Bucket or S3Key or S3ObjectVersion when "
                "the intended function PackageType is Image."
            )
        if not image_uri:
            raise InvalidParameterValue(
                "Please provide ImageUri when the intended function PackageType is Image."
            )
    elif image_uri:
        raise InvalidParameterValue(
            "Please don't provide ImageUri when the intended function PackageType is Zip."
        )


def check_update_sources(package_type: str, image_uri: str | None, has_zip: bool) -> None:
    """UpdateFunctionCode's source for the function's PackageType."""
    if package_type == IMAGE and (has_zip or not image_uri):
        raise InvalidParameterValue(
            "Please provide ImageUri when updating a function with packageType Image."
        )
    if package_type != IMAGE and image_uri:
        raise InvalidParameterValue(
            "Please don't provide ImageUri when updating a function with packageType Zip."
        )


def check_image_config(package_type: str, image_config: ImageConfig | None) -> None:
    """ImageConfig goes with Image functions only, within the model's bounds."""
    if image_config is None:
        return
    if package_type != IMAGE:
        raise InvalidParameterValue(
            "Please don't provide ImageConfig when the intended function PackageType is Zip."
        )
    lists = (("entryPoint", image_config.entry_point), ("command", image_config.command))
    for name, items in lists:
        if items is not None and len(items) > IMAGE_CONFIG_LIST_MAX:
            raise InvalidParameterValue(
                f"1 validation error detected: Value at 'imageConfig.{name}' failed to satisfy "
                f"constraint: Member must have length less than or equal to "
                f"{IMAGE_CONFIG_LIST_MAX}"
            )
    workdir = image_config.working_directory
    if workdir is not None and len(workdir) > WORKING_DIRECTORY_MAX:
        raise InvalidParameterValue(
            "1 validation error detected: Value at 'imageConfig.workingDirectory' failed to "
            f"satisfy constraint: Member must have length less than or equal to "
            f"{WORKING_DIRECTORY_MAX}"
        )


IMAGES_NEED_BWRAP = (
    "Container image functions need the bwrap sandbox backend: this server runs the process "
    "backend (--sandbox process), which cannot give a function its image's root filesystem."
)
"""Why a server whose sandboxes cannot run images refuses image functions."""


async def resolve_image(
    images: ImageStore | None,
    image_uri: str,
    architectures: tuple[str, ...],
    refused: str | None = None,
) -> ResolvedImage:
    """The image `image_uri` names now, built for the function's architecture (the
    store's errors are AWS's: ImageNotFound is "Source image ... does not exist").
    `refused`: why this server runs no image function (refused at once, so none is
    created only to fail at its first invoke)."""
    if refused is not None:
        raise InvalidParameterValue(refused)
    if images is None:
        raise InvalidParameterValue(
            f"Source image {image_uri} does not exist. Provide a valid source image."
        )
    image = await run_sync(images.resolve, image_uri)
    wanted = architectures[0] if architectures else "x86_64"
    if image.architecture != wanted:
        raise ImageArchitectureMismatch(image_uri, image.architecture, wanted)
    return image


def with_image(config: FunctionConfig, image_uri: str, image: ResolvedImage) -> FunctionConfig:
    """`config` naming `image` as its code (ImageUri as given, pinned to the digest)."""
    return dataclasses.replace(
        config, image_uri=image_uri, resolved_image_uri=image.resolved_image_uri
    )


def digest_hex(image: ResolvedImage) -> str:
    """The manifest digest without its algorithm: the version's code key (and CodeSha256)."""
    return image.digest.removeprefix("sha256:")
