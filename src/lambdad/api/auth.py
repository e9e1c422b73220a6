"""Authentication: every API request is signed with SigV4, checked before routing.

One middleware for every API the server speaks (Lambda's REST API, and the
JSON APIs beside it): it reads the signature (`iam.sigv4.read_claim`), finds
the key's secret through the `CredentialResolver`s (users' keys, role
sessions), checks what needs no body (service, session token, the time
window), then the signature itself. A request that passes carries its
`Principal` in `request.state.principal`; one that fails gets AWS's error
(`MissingAuthenticationTokenException`, `UnrecognizedClientException`,
`InvalidSignatureException`, …, all 403) and reaches no handler.

The signature covers the body's hash, so no handler runs before it is checked:
- a request without a body, or one whose signed `x-amz-content-sha256`
  declares the hash (or UNSIGNED-PAYLOAD), is checked at once; the body then
  streams to the handler under `BodyGuard`'s limits and is held to the
  declared hash as it ends (a mismatch fails the read with
  InvalidSignatureException, so a handler never acts on a tampered body);
- otherwise (boto3's usual request) the body is read here first, at most
  `max_body` bytes (a larger Content-Length is refused unread), and only after
  the key, token and time passed: an unknown caller cannot make the server
  buffer anything. Bodies larger than a synchronous invoke's are read a few
  at a time. `BodyGuard` then applies each operation's own limit.

Not signed with SigV4, and so not checked here: code download links
(`/_lambdad/code/…`, presigned by the server itself, see `code_links.py`), the
console's static pages (`/console/…`: they hold no data, and sign what they ask), and
function URLs (their front checks SigV4 itself when the URL's AuthType is
AWS_IAM). With authentication off (`--auth off`, loopback only) every request
is served as the anonymous principal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from hashlib import sha256
from urllib.parse import quote

import anyio
from botocore.auth import UNSIGNED_PAYLOAD
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lambdad.api import json_protocol
from lambdad.api.asgi_headers import declared_length
from lambdad.api.bodies import CODE_UPLOAD_LIMIT, MAX_CONCURRENT_UPLOADS, too_large
from lambdad.api.errors import error_response
from lambdad.concurrency import run_sync
from lambdad.errors import LambdadError
from lambdad.iam import CredentialResolver, Principal, ResolvedCredential
from lambdad.iam.sigv4 import (
    EMPTY_SHA256,
    PAYLOAD_HASH_MISMATCH,
    Claim,
    InvalidSignature,
    ReceivedRequest,
    UnrecognizedClient,
    check_claim,
    check_signature,
    declared_payload_hash,
    read_claim,
)
from lambdad.invoke import MAX_SYNC_PAYLOAD

log = logging.getLogger(__name__)

# The SigV4 services this server answers for (a signature names one in its scope).
SERVICES = frozenset({"lambda", "events", "scheduler", "logs", "monitoring", "xray", "ce"})
UNSIGNED_PATHS = ("/_lambdad/code/", "/console/")
UNSIGNED_EXACT = frozenset({"/console"})
_HEADERS_KEY = "lambdad.sigv4_headers"
# Hashing a large body blocks; past this it is done off the event loop.
_HASH_INLINE_BYTES = 256 * 1024


def utc_now() -> datetime:
    return datetime.now(UTC)


def received_request(scope: Scope, body_sha256: str | None) -> ReceivedRequest:
    """The parts of an ASGI request SigV4 covers, in their wire form."""
    raw_path = scope.get("raw_path")
    path = bytes(raw_path).decode("latin-1") if raw_path else quote(scope["path"])
    raw_headers = scope.get("headers", [])
    # A request is checked in steps (claim, payload hash, signature): its headers
    # are decoded once, while the scope still has the same header list.
    cached = scope.get(_HEADERS_KEY)
    if cached is not None and cached[0] is raw_headers:
        headers = cached[1]
    else:
        headers = [
            (bytes(k).decode("latin-1").lower(), bytes(v).decode("latin-1")) for k, v in raw_headers
        ]
        scope[_HEADERS_KEY] = (raw_headers, headers)
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    return ReceivedRequest(scope["method"], path, query, headers, body_sha256)


async def body_hash(body: bytes) -> str:
    if len(body) <= _HASH_INLINE_BYTES:
        return sha256(body).hexdigest()
    return await run_sync(lambda: sha256(body).hexdigest())


class Authenticator:
    """SigV4 checks of received requests, shared by the API and function URLs."""

    def __init__(
        self,
        credentials: CredentialResolver,
        services: frozenset[str] = SERVICES,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.credentials = credentials
        self.services = services
        self.clock = clock

    async def claim(
        self, scope: Scope, services: frozenset[str] | None = None
    ) -> tuple[Claim, ResolvedCredential]:
        """Everything but the signature itself: the claim, its key, token and time."""
        claim = read_claim(received_request(scope, None))
        credential = self.credentials.remembered(claim.access_key_id)
        if credential is None:  # not in memory: the database, off the event loop
            credential = await run_sync(self.credentials.lookup, claim.access_key_id)
        if credential is None:
            raise UnrecognizedClient()
        check_claim(claim, credential, self.clock(), services or self.services)
        return claim, credential

    async def check(
        self, scope: Scope, claim: Claim, credential: ResolvedCredential, body: bytes
    ) -> Principal:
        """The signature over a body read whole."""
        check_signature(claim, received_request(scope, await body_hash(body)), credential)
        return credential.principal

    def declared_hash(self, scope: Scope, claim: Claim) -> str | None:
        """The payload hash the signature covers without reading the body: a signed
        `x-amz-content-sha256`, or the empty body's; None when the body must be read."""
        declared = declared_payload_hash(claim, received_request(scope, None))
        if declared is None and not _has_body(scope):
            return EMPTY_SHA256
        return declared

    def check_declared(
        self, scope: Scope, claim: Claim, credential: ResolvedCredential, declared: str
    ) -> None:
        """The signature over the declared payload hash (the body is held to it later)."""
        body_sha256 = None if declared == UNSIGNED_PAYLOAD else declared
        check_signature(claim, received_request(scope, body_sha256), credential)


class Authentication:
    """ASGI middleware in front of the API's routes (see the module doc)."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        *,
        enabled: bool = True,
        max_body: int = CODE_UPLOAD_LIMIT,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.enabled = enabled
        self.max_body = max_body
        self._uploads: anyio.Semaphore | None = None  # made on the event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        path = scope["path"]
        if not self.enabled or path.startswith(UNSIGNED_PATHS) or path in UNSIGNED_EXACT:
            state["principal"] = Principal.anonymous()
            await self.app(scope, receive, send)
            return
        try:
            claim, credential = await self.authenticator.claim(scope)
            declared = self.authenticator.declared_hash(scope, claim)
            if declared is not None:
                self.authenticator.check_declared(scope, claim, credential, declared)
                app_receive = _held_to(declared, receive)
            else:
                body = await self._read_body(scope, receive)
                await self.authenticator.check(scope, claim, credential, body)
                app_receive = _replay(body, receive)
        except LambdadError as exc:
            log.info("%s %s: refused: %s", scope["method"], scope["path"], exc.code)
            response = _refusal(scope, exc)
            await response(scope, receive, _closing(send))
            return
        state["principal"] = credential.principal
        await self.app(scope, app_receive, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = declared_length(scope)
        if declared > self.max_body:
            raise too_large(self.max_body, "request")
        if declared <= MAX_SYNC_PAYLOAD:
            return await read_bounded(receive, self.max_body)
        if self._uploads is None:
            self._uploads = anyio.Semaphore(MAX_CONCURRENT_UPLOADS)
        async with self._uploads:
            return await read_bounded(receive, self.max_body)


async def read_bounded(receive: Receive, limit: int) -> bytes:
    """The whole body; `RequestTooLarge` as soon as it passes `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit, "request")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _refusal(scope: Scope, exc: LambdadError) -> Response:
    """AWS's error in the request's protocol: the JSON protocol's (`X-Amz-Target`,
    `{"__type": …}`) or the REST API's."""
    if any(key == b"x-amz-target" for key, _ in scope.get("headers", [])):
        return json_protocol.error(exc.code, exc.status, exc.message)
    return error_response(exc.code, exc.status, exc.message)


def _held_to(declared: str, receive: Receive) -> Receive:
    """A `receive` whose body must hash to `declared`, checked as the body ends
    (UNSIGNED-PAYLOAD: the client chose not to sign the body)."""
    if declared == UNSIGNED_PAYLOAD:
        return receive
    digest = sha256()

    async def checked() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            digest.update(message.get("body", b""))
            if not message.get("more_body", False) and digest.hexdigest() != declared:
                raise InvalidSignature(PAYLOAD_HASH_MISMATCH)
        return message

    return checked


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the real channel
    (which says when the client goes away)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _closing(send: Send) -> Send:
    """A refused request's body is not read: the connection ends after the answer."""

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"connection", b"close")]
            message = {**message, "headers": headers}
        await send(message)

    return send_closing


def _has_body(scope: Scope) -> bool:
    return declared_length(scope) > 0 or any(
        key == b"transfer-encoding" for key, _ in scope.get("headers", [])
    )
