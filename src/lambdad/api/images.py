"""lambdad's own: the container images of `lambdad images` (import, ls, rm).

    POST   /_lambdad/images?name=REPO:TAG   body: an OCI-layout tar or a docker-archive
                                            (any type but a browser form's) -> ImageShape
    POST   /_lambdad/images/pull?uri=IMAGEURI  resolve (and pull) as CreateFunction will
                                            -> ImageShape
    GET    /_lambdad/images                 -> {"Images": [ImageShape, ...]}
    DELETE /_lambdad/images?name=REPO:TAG   (or name=sha256:... for a pulled image) -> 204
           [&force=true]                    an image function versions run is refused
                                            (409) unless forced: they then fail (State
                                            Failed, ImageDeleted; catalog/image_users.py)

The archive streams into a temp file under the image store's root (it may be
far larger than memory), bounded by the store's size limit, then is imported
off the event loop. Only whoever may call `lambdad:ImportImage` (the admin by
default) may import: an image becomes code every function can name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.responses import Response

from lambdad.api.bodies import stream_body
from lambdad.api.context import ApiContext
from lambdad.api.shapes import encode
from lambdad.api.shapes.images import ImageShape, ListImagesResponse
from lambdad.catalog.image_users import ImageInUse, image_deleted, image_users
from lambdad.concurrency import run_sync
from lambdad.errors import InvalidParameterValue
from lambdad.images import ImageService, ResolvedImage


def _service(ctx: ApiContext) -> ImageService:
    if ctx.images is None:
        raise InvalidParameterValue("This server keeps no container images.")
    return ctx.images


def _name(request: Request) -> str:
    name = request.query_params.get("name", "").strip()
    if not name:
        raise InvalidParameterValue("The image name (?name=REPOSITORY:TAG) is missing.")
    return name


async def import_image(request: Request) -> Response:
    images = _service(ApiContext.of(request))
    name = _name(request)
    limit = images.local.limits.max_bytes + images.local.limits.max_document_bytes
    fd, tmp = tempfile.mkstemp(dir=images.local.root, prefix=".upload-")
    os.close(fd)
    path = Path(tmp)
    try:
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in stream_body(request, limit, "ImportImage"):
                await out.write(chunk)
        image = await run_sync(images.import_archive, path, name)
    finally:
        path.unlink(missing_ok=True)
    return _resolved(image, status=201)


async def pull_image(request: Request) -> Response:
    images = _service(ApiContext.of(request))
    uri = request.query_params.get("uri", "").strip()
    if not uri:
        raise InvalidParameterValue("The image URI (?uri=IMAGEURI) is missing.")
    return _resolved(await run_sync(images.resolve, uri), status=200)


def _resolved(image: ResolvedImage, status: int) -> Response:
    body = ImageShape(
        digest=image.digest,
        repository=image.resolved_image_uri.split("@", 1)[0],
        architecture=image.architecture,
        size_bytes=image.size_bytes,
        image_uri=image.image_uri,
        resolved_image_uri=image.resolved_image_uri,
    )
    return Response(encode(body), status_code=status, media_type="application/json")


async def list_images(request: Request) -> Response:
    images = _service(ApiContext.of(request))
    found = await run_sync(images.images)
    body = ListImagesResponse(
        images=[
            ImageShape(
                digest=i.digest,
                repository=i.repository,
                architecture=i.architecture,
                size_bytes=i.size_bytes,
                names=list(i.names),
                created=i.created,
            )
            for i in found
        ]
    )
    return Response(encode(body), media_type="application/json")


async def delete_image(request: Request) -> Response:
    ctx = ApiContext.of(request)
    images, name = _service(ctx), _name(request)
    digest = await run_sync(images.deleted_by, name)
    users = [] if digest is None else await image_users(ctx.catalog, digest)
    if users and request.query_params.get("force") != "true":
        raise ImageInUse(name, users)
    image = None if digest is None else await run_sync(images.lookup, digest)
    await run_sync(images.remove, name)
    if users and image is not None and not images.refetchable(image.resolved_image_uri):
        await image_deleted(ctx.catalog, image.digest, image.resolved_image_uri)
    return Response(status_code=204)
