"""Where a request's deployment package comes from: ZipFile bytes or an S3 object.

CreateFunction (`Code`), UpdateFunctionCode (the body) and PublishLayerVersion
(`Content`) name their package the same way; this turns any of them into the
zip bytes the catalog checks like an upload. A container image (ImageUri) is no
package: the catalog resolves it.
"""

from __future__ import annotations

from typing import Any

from lambdad.api import convert
from lambdad.api.context import ApiContext
from lambdad.catalog import s3_location
from lambdad.concurrency import run_sync
from lambdad.errors import InvalidParameterValue


async def package_bytes(ctx: ApiContext, source: Any, member: str) -> bytes | None:
    """The zip `source` names (None: it names none); `member` prefixes constraint
    messages as AWS's do ("code." for CreateFunction, "" for UpdateFunctionCode)."""
    where = s3_location(source.s3_bucket, source.s3_key, source.s3_object_version, member=member)
    if where is None:
        return convert.decode_zip(source.zip_file)
    if source.zip_file is not None:
        raise InvalidParameterValue(
            "Please provide either ZipFile or S3Bucket and S3Key for the code, not both."
        )
    return await run_sync(ctx.s3_code.fetch, where, ctx.region)
