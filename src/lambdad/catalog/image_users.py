"""Container images in use: which function versions run an image, and what becomes of
them when it is deleted from the image store.

AWS: "If the corresponding container image no longer exists on Amazon ECR ..., the
function enters the Failed state, and Lambda returns a failure for any function
invocations" (StateReasonCode ImageDeleted). lambdad's image store is its ECR: a
deleted image that no registry can give back fails every version running it at once
(Invoke then answers AWS's ResourceConflictException for a Failed function), rather
than each one's next cold start failing with an error that names no cause. As
`docker rmi` refuses an image a container uses, `lambdad images rm` refuses an image
functions use unless forced (see `api/images.py`).
"""

from __future__ import annotations

from lambdad.catalog.service import Catalog
from lambdad.concurrency import run_sync
from lambdad.errors import ResourceConflict

IMAGE_DELETED = "ImageDeleted"
SHOWN_USERS = 5


class ImageInUse(ResourceConflict):
    """An image function versions run, removed without force (409, as `docker rmi`)."""

    def __init__(self, image: str, users: list[str]) -> None:
        shown = ", ".join(users[:SHOWN_USERS]) + (", ..." if len(users) > SHOWN_USERS else "")
        super().__init__(
            f"The image {image} is in use by {len(users)} function version(s): {shown}. "
            "Delete them or update their code first, or remove it with force (`lambdad "
            "images rm --force`): they then fail, State Failed with StateReasonCode "
            "ImageDeleted, as on AWS when a function's image is deleted."
        )


async def image_users(catalog: Catalog, digest: str) -> list[str]:
    """The qualified ARNs of the function versions (every region) that run `digest`."""
    rows = await run_sync(catalog.functions.using_code, digest.removeprefix("sha256:"))
    return [
        f"{catalog.in_region(region).account.function_arn(name)}:{version}"
        for region, name, version in rows
    ]


async def image_deleted(catalog: Catalog, digest: str, image: str) -> int:
    """Fail every version that runs `digest` (deleted as `image`); how many were."""
    rows = await run_sync(catalog.functions.using_code, digest.removeprefix("sha256:"))
    reason = f"The function's container image {image} was deleted from the image store."
    failed = 0
    for region, name, version in rows:
        failed += await catalog.in_region(region).lose(name, version, reason, IMAGE_DELETED)
    return failed
