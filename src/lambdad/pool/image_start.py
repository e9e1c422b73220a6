"""What a container image function's environment runs: its version's pinned image, its
command and working dir (the function's ImageConfig over the image's settings), and
its variables (Lambda's and the function's over the image's ENV).
"""

from __future__ import annotations

from lambdad.catalog import ImageConfig, Version
from lambdad.images import ImageNotFound, ImageStore, ResolvedImage, add_mount_points
from lambdad.runtimes.image_launch import image_environment
from lambdad.runtimes.spec import ImageLaunch


def pinned_image(images: ImageStore | None, version: Version) -> ResolvedImage:
    """The image `version` was created or published with: its digest, never what its tag
    names now (blocking: a store that no longer holds it fetches it by digest again)."""
    digest = version.image_digest
    assert digest is not None, "not a container image function"
    pinned = version.config.resolved_image_uri or digest
    if images is None:
        raise ImageNotFound(pinned)
    found = images.lookup(digest) or images.resolve(pinned)
    add_mount_points(found.rootfs)  # a root composed before the store made them
    return found


def image_launch(image: ResolvedImage, overrides: ImageConfig | None) -> ImageLaunch:
    """ENTRYPOINT + CMD and WORKDIR, each replaced by ImageConfig's when it sets one."""
    settings = image.config
    entry_point = settings.entrypoint
    command = settings.cmd
    working_dir = settings.working_dir
    if overrides is not None:
        if overrides.entry_point is not None:
            entry_point = overrides.entry_point
        if overrides.command is not None:
            command = overrides.command
        if overrides.working_directory:
            working_dir = overrides.working_directory
    return ImageLaunch(image.rootfs, (*entry_point, *command), working_dir or "/")


def image_variables(image: ResolvedImage, lambda_env: dict[str, str]) -> dict[str, str]:
    """The function's environment: the image's ENV under Lambda's variables and the
    function's (the runtime id Lambda would name is the image's business)."""
    env = dict(lambda_env)
    env.pop("AWS_EXECUTION_ENV", None)
    return image_environment(image.config.env, env)


def handler_of(image: ResolvedImage, overrides: ImageConfig | None) -> str:
    """_HANDLER: the command's first word, as AWS's base images take it (their
    /lambda-entrypoint.sh exports its one argument as _HANDLER)."""
    command = image.config.cmd
    if overrides is not None and overrides.command is not None:
        command = overrides.command
    return command[0] if command else ""
