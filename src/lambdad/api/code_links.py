"""Time-limited links that download a version's zip, like GetFunction's presigned
S3 URL (valid for 10 minutes)."""

from __future__ import annotations

import hashlib
import hmac
import time

from starlette.requests import Request
from starlette.responses import Response

from lambdad.errors import AccessDenied, ResourceNotFound

LINK_LIFETIME_S = 600


class CodeLinks:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, key: str, expires: int) -> str:
        return hmac.new(self._secret, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, base_url: str, code_key: str, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + LINK_LIFETIME_S)
        signature = self._sign(code_key, expires)
        query = f"Expires={expires}&Signature={signature}"
        return f"{base_url.rstrip('/')}/_lambdad/code/{code_key}?{query}"

    def check(self, code_key: str, expires: str, signature: str) -> None:
        try:
            expiry = int(expires)
        except ValueError as exc:
            raise AccessDenied("Request has expired") from exc
        if expiry < time.time():
            raise AccessDenied("Request has expired")
        if not hmac.compare_digest(self._sign(code_key, expiry), signature):
            raise AccessDenied(
                "The request signature we calculated does not match the signature you provided."
            )


async def download_code(request: Request) -> Response:
    app = request.app.state.lambdad
    key = request.path_params["key"]
    app.code_links.check(
        key, request.query_params.get("Expires", ""), request.query_params.get("Signature", "")
    )
    try:
        data = await app.catalog.code_zip(key)
    except FileNotFoundError as exc:
        raise ResourceNotFound("The specified key does not exist.") from exc
    return Response(data, media_type="application/zip")
