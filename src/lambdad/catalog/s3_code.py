"""Deployment packages named by S3Bucket/S3Key/S3ObjectVersion, fetched from the operator's S3.

The object comes from the S3-compatible endpoint the operator configured for
functions (`--aws-endpoint s3=URL`, or the one endpoint for every service),
signed with the server process's own AWS credentials: the standard chain
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE
and the shared files), never the instance metadata service; with none, the
request goes unsigned (a public bucket). S3's refusals come back as Lambda
reports them: InvalidParameterValueException "Error occurred while GetObject.
S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."

The object is read up to the unzipped package limit (a larger one could never
pass), then checked like an upload (`code.inspect_zip`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from lambdad.catalog.code import MAX_UNZIPPED_BYTES
from lambdad.catalog.constraints import Violations
from lambdad.errors import InvalidParameterValue

log = logging.getLogger(__name__)

MAX_OBJECT_BYTES = MAX_UNZIPPED_BYTES
"""No zip larger than the unzipped limit can pass the checks: read no more than this."""
_CHUNK = 1 << 20
_TIMEOUT_S = 60


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str
    version: str | None = None


def s3_location(
    bucket: str | None, key: str | None, version: str | None, *, member: str
) -> S3Location | None:
    """The S3 object a request names (None: it names none), its members checked as AWS's
    (`member` prefixes their names: "code.", "content." or "")."""
    if bucket is None and key is None and version is None:
        return None
    problems = Violations()
    problems.string(bucket, f"{member}s3Bucket", 3, 63, r"[0-9A-Za-z\.\-_]*(?<!\.)")
    problems.string(key, f"{member}s3Key", 1, 1024)
    problems.string(version, f"{member}s3ObjectVersion", 1, 1024)
    problems.raise_if_any()
    if bucket is None or key is None:
        raise InvalidParameterValue("Please provide both S3Bucket and S3Key for the code location.")
    return S3Location(bucket, key, version)


class S3CodeFetcher:
    """Reads deployment packages from the configured S3 endpoint (blocking: run off the loop)."""

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint
        self._clients: dict[str, Any] = {}

    def fetch(self, where: S3Location, region: str) -> bytes:
        if self.endpoint is None:
            raise InvalidParameterValue(
                "Code from S3 needs an S3 endpoint, and this lambdad server has none: "
                "start it with --aws-endpoint s3=URL (or LAMBDAD_AWS_ENDPOINTS)"
            )
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"VersionId": where.version} if where.version else {}
        try:
            answer = self._client(region).get_object(Bucket=where.bucket, Key=where.key, **extra)
            return _read_bounded(answer["Body"], answer.get("ContentLength"))
        except ClientError as e:
            error = e.response.get("Error", {})
            code = error.get("Code") or str(e.response["ResponseMetadata"]["HTTPStatusCode"])
            message = error.get("Message") or _DEFAULT_MESSAGES.get(code, code)
            raise InvalidParameterValue(
                f"Error occurred while GetObject. S3 Error Code: {code}. "
                f"S3 Error Message: {message}"
            ) from e
        except BotoCoreError as e:
            log.warning("code from s3://%s/%s: %s", where.bucket, where.key, e)
            raise InvalidParameterValue(
                "Error occurred while GetObject. S3 Error Code: ServiceUnavailable. "
                f"S3 Error Message: {e}"
            ) from e

    def _client(self, region: str) -> Any:
        client = self._clients.get(region)
        if client is None:
            import botocore.session
            from botocore import UNSIGNED
            from botocore.config import Config

            session = botocore.session.get_session()
            # The server's own credentials, never the instance metadata service's.
            session.get_component("credential_provider").remove("iam-role")
            signed = session.get_credentials() is not None
            config = Config(
                connect_timeout=_TIMEOUT_S,
                read_timeout=_TIMEOUT_S,
                retries={"max_attempts": 2},
                signature_version=None if signed else UNSIGNED,
                s3={"addressing_style": "path"},
            )
            client = session.create_client(
                "s3", region_name=region, endpoint_url=self.endpoint, config=config
            )
            self._clients[region] = client
        return client


# HEAD-style answers carry no body to read the message from.
_DEFAULT_MESSAGES = {
    "NoSuchKey": "The specified key does not exist.",
    "NoSuchBucket": "The specified bucket does not exist",
    "AccessDenied": "Access Denied",
}


def _read_bounded(body: Any, length: int | None) -> bytes:
    try:
        if length is not None and length > MAX_OBJECT_BYTES:
            raise _too_large()
        data = bytearray()
        while chunk := body.read(_CHUNK):
            data += chunk
            if len(data) > MAX_OBJECT_BYTES:
                raise _too_large()
        return bytes(data)
    finally:
        body.close()


def _too_large() -> InvalidParameterValue:
    return InvalidParameterValue(f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")
