"""SigV4 verification against requests signed by botocore itself (header and
presigned forms), and each way a request is refused."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from lambdad.iam import Principal, ResolvedCredential
from lambdad.iam.sigv4 import (
    Claim,
    ExpiredToken,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    ReceivedRequest,
    UnrecognizedClient,
    expected_signature,
    read_claim,
    signing_key,
    verify,
)

KEY_ID = "AKIAEXAMPLEEXAMPLE00"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
URL = (
    "http://127.0.0.1:9000/2015-03-31/functions/"
    "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/invocations?Qualifier=%24LATEST"
)
OLD_DATE = "20200101T000000Z"
SERVICES = frozenset({"lambda"})
CREDENTIAL = ResolvedCredential(SECRET, None, Principal.user("000000000000", "alice", KEY_ID))


def signed(
    body: bytes = b'{"a": 1}',
    url: str = URL,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    unsigned_payload: bool = False,
) -> tuple[ReceivedRequest, bytes]:
    """A request as boto3 would send it, and as the server receives it."""
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers or {}))
    if unsigned_payload:
        request.context["payload_signing_enabled"] = False
        url = url.replace("http://", "https://")
        request.url = url
    SigV4Auth(Credentials(KEY_ID, SECRET, token), "lambda", "us-east-1").add_auth(request)
    return received(request, body), body


def received(request: AWSRequest, body: bytes) -> ReceivedRequest:
    parts = urlsplit(request.url)
    headers = [("host", parts.netloc)]
    headers += [(k.lower(), str(v)) for k, v in request.headers.items()]
    return ReceivedRequest(
        request.method, parts.path, parts.query, headers, sha256(body).hexdigest()
    )


def check(
    request: ReceivedRequest, credential: ResolvedCredential = CREDENTIAL, **now: float
) -> None:
    moment = datetime.now(UTC) + timedelta(**now)
    verify(read_claim(request), request, credential, moment, SERVICES)


def test_a_boto3_signed_request_verifies() -> None:
    request, _ = signed()
    claim = read_claim(request)
    assert (claim.access_key_id, claim.region, claim.service) == (KEY_ID, "us-east-1", "lambda")
    check(request)


def test_a_wrong_secret_is_an_invalid_signature() -> None:
    request, _ = signed()
    other = ResolvedCredential("x" * 40, None, CREDENTIAL.principal)
    with pytest.raises(InvalidSignature, match="does not match the signature you provided"):
        check(request, other)


def test_a_tampered_body_is_refused() -> None:
    request, _ = signed()
    tampered = ReceivedRequest(
        request.method, request.raw_path, request.raw_query, request.headers,
        sha256(b'{"a": 2}').hexdigest(),
    )  # fmt: skip
    with pytest.raises(InvalidSignature):
        check(tampered)


@pytest.mark.parametrize(
    "change",
    [
        lambda h: [(k, "other.example" if k == "host" else v) for k, v in h],
        lambda h: [(k, v) for k, v in h if k != "x-amz-date"] + [("x-amz-date", OLD_DATE)],
        lambda h: [(k, v) for k, v in h if k != "host"],
    ],
    ids=["host", "date", "dropped"],
)
def test_a_tampered_signed_header_is_refused(change: object) -> None:
    request, _ = signed()
    headers = change(list(request.headers))  # type: ignore[operator]
    tampered = ReceivedRequest(
        request.method, request.raw_path, request.raw_query, headers, request.body_sha256
    )
    with pytest.raises((InvalidSignature, IncompleteSignature)):
        check(tampered)


def test_a_tampered_path_or_query_is_refused() -> None:
    request, _ = signed()
    for path, query in [
        (request.raw_path.replace("function%3Af", "function%3Ag"), request.raw_query),
        (request.raw_path, "Qualifier=1"),
    ]:
        tampered = ReceivedRequest("POST", path, query, request.headers, request.body_sha256)
        with pytest.raises(InvalidSignature):
            check(tampered)


def test_an_unsigned_header_may_change() -> None:
    request, _ = signed()
    check(ReceivedRequest(
        "POST", request.raw_path, request.raw_query,
        [*request.headers, ("user-agent", "something else")], request.body_sha256,
    ))  # fmt: skip


def test_the_15_minute_window() -> None:
    request, _ = signed()
    check(request, minutes=14)
    check(request, minutes=-14)
    with pytest.raises(InvalidSignature, match=r"^Signature expired: \d{8}T\d{6}Z is now earlier"):
        check(request, minutes=16)
    with pytest.raises(InvalidSignature, match=r"^Signature not yet current"):
        check(request, minutes=-16)


def test_a_missing_signature() -> None:
    request = ReceivedRequest("GET", "/2015-03-31/functions", "", [("host", "x")], "")
    with pytest.raises(MissingAuthenticationToken, match="Missing Authentication Token"):
        read_claim(request)


def test_a_malformed_authorization_header() -> None:
    headers = [("host", "x"), ("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20240101")]
    with pytest.raises(IncompleteSignature, match="requires 'Signature' parameter"):
        read_claim(ReceivedRequest("GET", "/", "", headers, ""))


def test_session_tokens() -> None:
    session = ResolvedCredential(SECRET, "the-token", CREDENTIAL.principal)
    request, _ = signed(token="the-token")
    check(request, session)
    other, _ = signed(token="another-token")
    with pytest.raises(UnrecognizedClient):
        check(other, session)
    without, _ = signed()
    with pytest.raises(UnrecognizedClient):
        check(without, session)
    with pytest.raises(UnrecognizedClient):  # a long-term key never comes with a token
        check(request, CREDENTIAL)
    expired = ResolvedCredential(SECRET, "the-token", CREDENTIAL.principal, expires_at=1.0)
    with pytest.raises(ExpiredToken, match="expired"):
        check(request, expired)


def test_a_declared_payload_hash_must_be_the_bodys() -> None:
    body = b'{"a": 1}'
    request, _ = signed(body, headers={"X-Amz-Content-SHA256": sha256(body).hexdigest()})
    check(request)
    lying, _ = signed(body, headers={"X-Amz-Content-SHA256": sha256(b"other").hexdigest()})
    with pytest.raises(InvalidSignature, match="x-amz-content-sha256"):
        check(lying)


def test_unsigned_payload_when_the_client_chose_it() -> None:
    request, _ = signed(unsigned_payload=True)
    assert request.header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
    check(request)


def presigned(expires: int, url: str = URL) -> ReceivedRequest:
    request = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(Credentials(KEY_ID, SECRET), "lambda", "us-east-1", expires).add_auth(request)
    return received(request, b"")


def test_a_presigned_url_in_and_out_of_its_window() -> None:
    request = presigned(60)
    check(request)
    check(request, seconds=50)
    with pytest.raises(InvalidSignature, match=r"^Signature expired: .* - 60 sec\.\)"):
        check(request, seconds=120)
    with pytest.raises(InvalidSignature, match="not yet current"):
        check(request, minutes=-16)


def test_a_presigned_url_with_a_changed_parameter_is_refused() -> None:
    request = presigned(60)
    query = request.raw_query.replace("Qualifier=%24LATEST", "Qualifier=1")
    with pytest.raises(InvalidSignature):
        check(ReceivedRequest("GET", request.raw_path, query, request.headers, request.body_sha256))


def test_a_service_the_server_does_not_speak() -> None:
    request, _ = signed()
    with pytest.raises(InvalidSignature, match="scoped to correct service"):
        verify(read_claim(request), request, CREDENTIAL, datetime.now(UTC), frozenset({"events"}))


def test_the_remembered_signing_key_is_botocores() -> None:
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI"), "lambda", "eu-west-1")
    request = AWSRequest(method="GET", url="http://lambdad/")
    request.context["timestamp"] = "20261201T052200Z"
    expected = signer.signature("the string to sign", request)
    key = signing_key("wJalrXUtnFEMI", "20261201", "eu-west-1", "lambda")
    assert hmac.new(key, b"the string to sign", sha256).hexdigest() == expected


class _BotocoreSigner(SigV4Auth):  # type: ignore[misc]
    """botocore's own signer fed a received request: what `expected_signature` must equal."""

    def __init__(self, claim: Claim, payload_hash: str) -> None:
        super().__init__(Credentials(claim.access_key_id, SECRET), claim.service, claim.region)
        self.claim = claim
        self.payload_hash = payload_hash

    def sign(self, request: ReceivedRequest) -> str:
        query = request.raw_query
        if self.claim.presigned_expires_s is not None:
            query = "&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature="))
        url = "http://lambdad" + request.raw_path + (f"?{query}" if query else "")
        headers = HTTPHeaders()
        for name, value in request.headers:
            if name in self.claim.signed_headers:
                headers.add_header(name, value)
        aws = AWSRequest(method=request.method, url=url, headers=headers)
        aws.context["timestamp"] = self.claim.amz_date
        canonical = self.canonical_request(aws)
        return str(self.signature(self.string_to_sign(aws, canonical), aws))

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return request.headers

    def payload(self, _request: AWSRequest) -> str:
        return self.payload_hash


AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/eu-west-1/lambda/aws4_request, "
    "SignedHeaders={}, Signature=00"
)
_BASE_HEADERS = [("host", "127.0.0.1:9000"), ("x-amz-date", "20261201T052200Z")]


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "signed_names"),
    [
        ("POST", "/2015-03-31/functions/f/invocations", "", [], "host;x-amz-date"),
        ("get", "/a/./b/../c//d/", "b=2&a=1&a=0&&c", [], "host;x-amz-date"),
        ("GET", "/caf%C3%A9/\u00e9~x y", "X-Amz-Credential=a%2Fb&k=%24v", [], "host;x-amz-date"),
        ("POST", "", "q#frag", [], "host;x-amz-date"),
        ("POST", "/p#x", "", [], "host;x-amz-date"),
        (
            "POST",
            "/f",
            "",
            [("x-amz-meta", "  a   b\t c "), ("X-Odd", "v"), ("x-amz-meta", "second")],
            "host;x-amz-date;x-amz-meta;x-odd",
        ),
        ("POST", "/f", "", [("content-type", "application/json")], "content-type;host;absent"),
        (
            "POST",
            "/f",
            "",
            [("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
            "host;x-amz-content-sha256;x-amz-date",
        ),
        ("POST", "/f", "", [("x-amz-content-sha256", "e" * 64)], "host;x-amz-date"),
    ],
)
def test_the_expected_signature_is_botocores(
    method: str, path: str, query: str, headers: list[tuple[str, str]], signed_names: str
) -> None:
    received_headers = [*_BASE_HEADERS, *headers, ("authorization", AUTH.format(signed_names))]
    request = ReceivedRequest(method, path, query, received_headers, "d" * 64)
    claim = read_claim(request)
    credential = ResolvedCredential(SECRET, None, Principal.anonymous())
    for payload_hash in ("d" * 64, "UNSIGNED-PAYLOAD"):
        expected = _BotocoreSigner(claim, payload_hash).sign(request)
        assert expected_signature(claim, request, credential, payload_hash) == expected


def test_a_presigned_requests_expected_signature_is_botocores() -> None:
    request = presigned(60, URL + "&b=%2F&a=")
    claim = read_claim(request)
    assert request.body_sha256 is not None
    signatures = set()
    for payload_hash in (request.body_sha256, "UNSIGNED-PAYLOAD"):
        expected = _BotocoreSigner(claim, payload_hash).sign(request)
        assert expected_signature(claim, request, CREDENTIAL, payload_hash) == expected
        signatures.add(expected)
    assert claim.signature in signatures
