"""The authentication middleware in process: what reaches a handler, with which
principal, and what is refused before routing (a fake credential resolver)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lambdad.api.auth import Authentication, Authenticator
from lambdad.api.errors import handle_lambdad_error
from lambdad.client_signing import SigV4HttpxAuth
from lambdad.errors import LambdadError
from lambdad.iam import KeyPair, Principal, PrincipalKind, ResolvedCredential
from lambdad.iam.principal import CredentialResolvers

pytestmark = pytest.mark.anyio

USER = KeyPair("AKIAUSERUSERUSERUSER", "user-secret")
SESSION = KeyPair("ASIASESSIONSESSION00", "session-secret", "the-session-token")
SESSION_PRINCIPAL = Principal(
    PrincipalKind.ROLE_SESSION,
    "role/fn",
    "arn:aws:sts::000000000000:assumed-role/role/fn",
    SESSION.access_key_id,
)


class FakeResolver:
    def __init__(self, expires_at: float | None = None) -> None:
        self.expires_at = expires_at
        self.looked_up: list[str] = []

    def lookup(self, access_key_id: str) -> ResolvedCredential | None:
        self.looked_up.append(access_key_id)
        if access_key_id == USER.access_key_id:
            principal = Principal.user("000000000000", "alice", access_key_id)
            return ResolvedCredential(USER.secret_access_key, None, principal)
        if access_key_id == SESSION.access_key_id:
            return ResolvedCredential(
                SESSION.secret_access_key, SESSION.session_token, SESSION_PRINCIPAL, self.expires_at
            )
        return None

    def remembered(self, access_key_id: str) -> ResolvedCredential | None:
        return None


async def echo(request: Request) -> JSONResponse:
    principal: Principal = request.state.principal
    body = await request.body()
    return JSONResponse({"arn": principal.arn, "kind": principal.kind, "body": body.decode()})


def client(
    auth: httpx.Auth | None,
    *,
    enabled: bool = True,
    resolver: Any = None,
    clock: Callable[[], datetime] | None = None,
) -> httpx.AsyncClient:
    routes = [Route("/{path:path}", echo, methods=["GET", "POST"])]
    authenticator = Authenticator(CredentialResolvers([resolver or FakeResolver()]))
    if clock is not None:
        authenticator.clock = clock
    # The real app's rendering of errors (one raised while the body is read too).
    api = Starlette(routes=routes, exception_handlers={LambdadError: handle_lambdad_error})
    app = Authentication(api, authenticator, enabled=enabled)
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://lambdad", auth=auth)


def signed(key: KeyPair, service: str = "lambda") -> SigV4HttpxAuth:
    return SigV4HttpxAuth(key, "us-east-1", service)


async def test_a_signed_request_reaches_the_handler_with_its_principal() -> None:
    async with client(signed(USER)) as http:
        answer = await http.post("/2015-03-31/functions/f/invocations", content=b'{"a": 1}')
    assert answer.status_code == 200
    assert answer.json() == {
        "arn": "arn:aws:iam::000000000000:user/alice",
        "kind": "user",
        "body": '{"a": 1}',
    }


async def test_a_role_session_needs_its_token() -> None:
    async with client(signed(SESSION)) as http:
        answer = await http.get("/2015-03-31/functions")
    assert answer.json()["kind"] == "role-session"
    forged = KeyPair(SESSION.access_key_id, SESSION.secret_access_key, "another-token")
    async with client(signed(forged)) as http:
        refused = await http.get("/2015-03-31/functions")
    assert refused.status_code == 403
    assert refused.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    expired = FakeResolver(expires_at=1.0)
    async with client(signed(SESSION), resolver=expired) as http:
        refused = await http.get("/2015-03-31/functions")
    assert refused.headers["x-amzn-ErrorType"] == "ExpiredTokenException"
    assert refused.json()["message"] == "The security token included in the request is expired"


async def test_refusals_reach_no_handler() -> None:
    async with client(None) as http:
        missing = await http.get("/2015-03-31/functions")
    assert missing.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    unknown_key = KeyPair("AKIANOBODYNOBODY0000", "x")
    async with client(signed(unknown_key)) as http:
        unknown = await http.get("/2015-03-31/functions")
    assert unknown.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    async with client(signed(KeyPair(USER.access_key_id, "wrong"))) as http:
        wrong = await http.get("/2015-03-31/functions")
    assert wrong.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    async with client(signed(USER, service="s3")) as http:
        service = await http.get("/2015-03-31/functions")
    assert "scoped to correct service" in service.json()["message"]


async def test_the_clock_bounds_a_signature() -> None:
    def later() -> datetime:
        return datetime.now(UTC) + timedelta(minutes=16)

    async with client(signed(USER), clock=later) as http:
        stale = await http.get("/2015-03-31/functions")
    assert stale.status_code == 403
    assert stale.json()["message"].startswith("Signature expired: ")


async def test_a_declared_hash_the_body_does_not_match_fails_the_read() -> None:
    signed_body = b'{"a": 1}'
    headers = {"x-amz-content-sha256": sha256(signed_body).hexdigest()}
    async with client(signed(USER)) as http:
        request = http.build_request("POST", "/x", content=signed_body, headers=headers)
        signed_request = next(signed(USER).auth_flow(request))
        ok = await http.send(signed_request, auth=None)
        assert ok.json()["body"] == '{"a": 1}'
        forged = httpx.Request(
            "POST", signed_request.url, headers=signed_request.headers, content=b'{"a": 2}'
        )
        refused = await http.send(forged, auth=None)
    assert refused.status_code == 403
    assert refused.headers["x-amzn-ErrorType"] == "InvalidSignatureException"


async def test_off_serves_everyone_as_anonymous_and_code_links_are_not_signed() -> None:
    async with client(None, enabled=False) as http:
        answer = await http.get("/2015-03-31/functions")
    assert answer.json()["kind"] == "anonymous"
    resolver = FakeResolver()
    async with client(None, resolver=resolver) as http:
        link = await http.get("/_lambdad/code/some-signed-key")
    assert link.status_code == 200 and link.json()["kind"] == "anonymous"
    assert resolver.looked_up == []
