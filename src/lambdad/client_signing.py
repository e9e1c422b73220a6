"""Signing outgoing requests as an AWS SDK does, for httpx clients (the `lambdad`
CLI): botocore's SigV4 signer over the request's method, URL, host, content
type, `x-amz-*` headers and body.

Which key: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and
`AWS_SESSION_TOKEN`) when set, as every AWS tool reads them; else the default
profile of `AWS_SHARED_CREDENTIALS_FILE` when set; else the admin key the server
wrote into its data dir (`<data dir>/credentials`, see `iam/credentials_file.py`).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from pathlib import Path

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambdad.iam.credentials_file import CREDENTIALS_FILE, KeyPair, read_credentials

# Headers a proxy or the HTTP stack may rewrite stay out of the signature.
_SIGNED_EXTRA = ("content-type",)


def find_credentials(environ: Mapping[str, str], data_dir: Path) -> KeyPair | None:
    key_id, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key_id and secret:
        return KeyPair(key_id, secret, environ.get("AWS_SESSION_TOKEN") or None)
    shared = environ.get("AWS_SHARED_CREDENTIALS_FILE")
    if shared:
        return read_credentials(Path(shared).expanduser())
    return read_credentials(data_dir / CREDENTIALS_FILE)


def region_of(environ: Mapping[str, str], default: str) -> str:
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or default


class SigV4HttpxAuth(httpx.Auth):
    """An httpx `auth=` that signs every request with `key` for `service` in `region`."""

    requires_request_body = True

    def __init__(self, key: KeyPair, region: str, service: str = "lambda") -> None:
        self.credentials = Credentials(key.access_key_id, key.secret_access_key, key.session_token)
        self.region = region
        self.service = service

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in ("host", *_SIGNED_EXTRA) or name.lower().startswith("x-amz-")
        }
        body = request.content if self.requires_request_body else b""
        aws = AWSRequest(method=request.method, url=str(request.url), data=body, headers=headers)
        SigV4Auth(self.credentials, self.service, self.region).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws.headers:
                request.headers[name] = aws.headers[name]
        yield request


class DeclaredPayloadSigV4Auth(SigV4HttpxAuth):
    """Signs a body that streams (an image archive) by the SHA-256 the request
    declares in `x-amz-content-sha256`, as S3's clients do: httpx never reads the
    body for signing, and the server checks the declared hash as the body ends."""

    requires_request_body = False

    @classmethod
    def like(cls, auth: httpx.Auth) -> httpx.Auth:
        if not isinstance(auth, SigV4HttpxAuth):
            return auth
        signer = cls.__new__(cls)
        signer.credentials, signer.region, signer.service = (
            auth.credentials,
            auth.region,
            auth.service,
        )
        return signer
