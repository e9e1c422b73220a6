"""AWS Signature Version 4, checked on a received request.

Two steps, so the caller can look the key up in between (a database read):

1. `read_claim(request)`: what the request says about its signature, from the
   `Authorization` header (`AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
   SERVICE/aws4_request, SignedHeaders=…, Signature=…` plus `X-Amz-Date`) or
   from a presigned query (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
   `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`). No signature at
   all is `MissingAuthenticationToken`; a malformed one `IncompleteSignature`.
2. `verify(claim, request, credential, now)`: the date window, the session
   token, the payload hash, and the signature itself.

The expected signature is computed over the request as received: its method,
its path and query as sent on the wire, exactly the headers the client said it
signed, the claimed date, region and service, with the canonical request formed
exactly as botocore's `SigV4Auth` (the signer every boto3 client uses) forms it
(the tests hold the two to each other; botocore's generic signer costs more
than the rest of a warm invoke's authentication). It is compared with
`hmac.compare_digest`.

The payload hash in the canonical request is the body's SHA-256, or the
`x-amz-content-sha256` header when the client signed that header; a header
that disagrees with the body is refused, and its value `UNSIGNED-PAYLOAD`
(the client chose not to sign the body, as S3 clients and presigners do) is
honoured. A presigned URL may carry either the body's hash or UNSIGNED-PAYLOAD.

Time: a header-signed request is accepted within 15 minutes either side of
the server's clock; a presigned one from its date until its `X-Amz-Expires`
(at most 7 days), and not more than 15 minutes before its date.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from hashlib import sha256
from typing import NamedTuple
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import UNSIGNED_PAYLOAD
from botocore.utils import normalize_url_path

from lambdad.errors import LambdadError
from lambdad.iam.principal import ResolvedCredential

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE = "%Y%m%dT%H%M%SZ"
WINDOW = timedelta(minutes=15)
MAX_EXPIRES_S = 7 * 24 * 3600
EMPTY_SHA256 = sha256(b"").hexdigest()
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_AMZ_DATE_FORM = re.compile(r"\d{8}T\d{6}Z\Z", re.ASCII)
PAYLOAD_HASH_MISMATCH = (
    "The provided 'x-amz-content-sha256' header does not match what was computed."
)
_AUTH_PARAM = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")


class MissingAuthenticationToken(LambdadError):
    code = "MissingAuthenticationTokenException"
    status = 403

    def __init__(self) -> None:
        super().__init__("Missing Authentication Token")


class IncompleteSignature(LambdadError):
    code = "IncompleteSignatureException"
    status = 403


class UnrecognizedClient(LambdadError):
    code = "UnrecognizedClientException"
    status = 403

    def __init__(self) -> None:
        super().__init__("The security token included in the request is invalid.")


class InvalidSignature(LambdadError):
    code = "InvalidSignatureException"
    status = 403

    MISMATCH = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details."
    )


class ExpiredToken(LambdadError):
    code = "ExpiredTokenException"
    status = 403

    def __init__(self) -> None:
        super().__init__("The security token included in the request is expired")


class ReceivedRequest(NamedTuple):
    """A request as it arrived: the wire forms of path and query, every header
    (lower-case names, in order; repeated names stay repeated), the body's hash.
    (Named tuples rather than frozen dataclasses: a request makes several, and a
    frozen dataclass costs a microsecond each to make.)"""

    method: str
    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]
    body_sha256: str | None
    """None: the body is not read yet; the signature is then checked over the
    signed `x-amz-content-sha256`, and the caller holds the body to it."""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Claim(NamedTuple):
    """What a request says about its signature (nothing in it is checked yet)."""

    access_key_id: str
    date: str
    """The scope's date, YYYYMMDD."""
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    """The request's time, YYYYMMDD'T'HHMMSS'Z'."""
    session_token: str | None
    presigned_expires_s: int | None
    """`X-Amz-Expires` of a presigned URL; None for a header-signed request."""


def read_claim(request: ReceivedRequest) -> Claim:
    authorization = request.header("authorization")
    query = _query_pairs(request.raw_query)
    if authorization is not None:
        return _header_claim(authorization, request)
    if any(key == "X-Amz-Signature" for key, _ in query):
        return _query_claim(dict(query))
    raise MissingAuthenticationToken()


def verify(
    claim: Claim,
    request: ReceivedRequest,
    credential: ResolvedCredential,
    now: datetime,
    services: frozenset[str],
) -> None:
    """Raise the error AWS would send unless `claim` is a valid signature of `request`
    by `credential`, at time `now`, for one of `services`."""
    check_claim(claim, credential, now, services)
    check_signature(claim, request, credential)


def check_claim(
    claim: Claim, credential: ResolvedCredential, now: datetime, services: frozenset[str]
) -> None:
    """What can be checked before the body is read: service, session token, time."""
    if claim.service not in services:
        expected = "', '".join(sorted(services))
        raise InvalidSignature(f"Credential should be scoped to correct service: '{expected}'. ")
    _check_token(claim, credential, now)
    _check_time(claim, _parse_amz_date(claim.amz_date), now)


def check_signature(claim: Claim, request: ReceivedRequest, credential: ResolvedCredential) -> None:
    """The payload hash and the signature itself (constant-time comparison)."""
    for payload_hash in _payload_hashes(claim, request):
        expected = expected_signature(claim, request, credential, payload_hash)
        if hmac.compare_digest(expected.encode(), claim.signature.encode()):
            return
    raise InvalidSignature(InvalidSignature.MISMATCH)


# -- reading the claim ---------------------------------------------------------


def _header_claim(authorization: str, request: ReceivedRequest) -> Claim:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(
            f"Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} is supported)"
        )
    params = dict(_AUTH_PARAM.findall(rest))
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    amz_date = request.header("x-amz-date")
    if amz_date is None:
        missing.append("Authorization header requires existence of a 'X-Amz-Date' header.")
    if missing:
        raise IncompleteSignature(" ".join(missing) + f" Authorization={authorization}")
    assert amz_date is not None
    return _claim(
        params["Credential"],
        params["SignedHeaders"],
        params["Signature"],
        amz_date,
        request.header("x-amz-security-token"),
        None,
    )


def _query_claim(query: dict[str, str]) -> Claim:
    names = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders")
    missing = [name for name in (*names, "X-Amz-Expires") if not query.get(name)]
    if missing:
        raise IncompleteSignature(
            "AWS query-string parameters must include "
            + ", ".join(f"'{name}'" for name in missing)
            + ". Re-examine the query-string parameters."
        )
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{query['X-Amz-Algorithm']}'")
    expires = query["X-Amz-Expires"]
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_EXPIRES_S:
        raise IncompleteSignature(
            f"X-Amz-Expires must be a whole number of seconds from 1 to {MAX_EXPIRES_S}."
        )
    return _claim(
        query["X-Amz-Credential"],
        query["X-Amz-SignedHeaders"],
        query["X-Amz-Signature"],
        query["X-Amz-Date"],
        query.get("X-Amz-Security-Token"),
        int(expires),
    )


def _claim(
    credential: str,
    signed_headers: str,
    signature: str,
    amz_date: str,
    token: str | None,
    expires: int | None,
) -> Claim:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise IncompleteSignature(
            f"Credential should be scoped to a valid region, not '{credential}'. "
            "The credential is ACCESS_KEY/DATE/REGION/SERVICE/aws4_request."
        )
    key_id, date, region, service, _ = parts
    if not amz_date.startswith(date):
        raise InvalidSignature(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    headers = tuple(signed_headers.split(";"))
    return Claim(key_id, date, region, service, headers, signature, amz_date, token, expires)


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for pair in raw_query.split("&") if raw_query else []:
        key, _, value = pair.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


# -- checking it ----------------------------------------------------------------


def _check_token(claim: Claim, credential: ResolvedCredential, now: datetime) -> None:
    expected, sent = credential.session_token, claim.session_token
    if expected is None:
        if sent:
            raise UnrecognizedClient()  # a long-term key never comes with a token
        return
    if sent is None or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise UnrecognizedClient()
    if credential.expires_at is not None and now.timestamp() >= credential.expires_at:
        raise ExpiredToken()


@lru_cache(maxsize=64)  # requests signed within the same second share their date
def _parse_amz_date(amz_date: str) -> datetime:
    # strptime's format, read by hand: strptime costs more than the rest of the claim.
    try:
        if not _AMZ_DATE_FORM.match(amz_date):
            raise ValueError(amz_date)
        d = amz_date
        return datetime(
            int(d[0:4]), int(d[4:6]), int(d[6:8]), int(d[9:11]), int(d[11:13]), int(d[13:15]),
            tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        raise IncompleteSignature(
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None


def _check_time(claim: Claim, signed_at: datetime, now: datetime) -> None:
    latest = now + WINDOW
    if signed_at <= latest and claim.presigned_expires_s is None and signed_at >= now - WINDOW:
        return  # the usual case, without formatting the messages below
    stamp = now.strftime(AMZ_DATE)
    if signed_at > latest:
        raise InvalidSignature(
            f"Signature not yet current: {claim.amz_date} is still later than "
            f"{latest.strftime(AMZ_DATE)} ({stamp} + 15 min.)"
        )
    if claim.presigned_expires_s is None:
        earliest = now - WINDOW
        if signed_at < earliest:
            raise InvalidSignature(
                f"Signature expired: {claim.amz_date} is now earlier than "
                f"{earliest.strftime(AMZ_DATE)} ({stamp} - 15 min.)"
            )
        return
    expires = claim.presigned_expires_s
    if signed_at + timedelta(seconds=expires) < now:
        earliest = now - timedelta(seconds=expires)
        raise InvalidSignature(
            f"Signature expired: {claim.amz_date} is now earlier than "
            f"{earliest.strftime(AMZ_DATE)} ({stamp} - {expires} sec.)"
        )


def declared_payload_hash(claim: Claim, request: ReceivedRequest) -> str | None:
    """The signed `x-amz-content-sha256` (a hex SHA-256 or UNSIGNED-PAYLOAD), if any."""
    declared = request.header("x-amz-content-sha256")
    if declared is None or "x-amz-content-sha256" not in claim.signed_headers:
        return None
    if declared != UNSIGNED_PAYLOAD and not _HEX64.match(declared):
        raise InvalidSignature(PAYLOAD_HASH_MISMATCH)
    return declared


def _payload_hashes(claim: Claim, request: ReceivedRequest) -> list[str]:
    """The payload hashes the canonical request may hold, the likeliest first."""
    declared = declared_payload_hash(claim, request)
    if declared is not None:
        if declared != UNSIGNED_PAYLOAD and request.body_sha256 not in (None, declared):
            raise InvalidSignature(PAYLOAD_HASH_MISMATCH)
        return [declared]
    if request.body_sha256 is None:
        raise ValueError("the body's hash is needed when the client declared none")
    if claim.presigned_expires_s is not None:
        return [request.body_sha256, UNSIGNED_PAYLOAD]
    return [request.body_sha256]


def expected_signature(
    claim: Claim, request: ReceivedRequest, credential: ResolvedCredential, payload_hash: str
) -> str:
    """The signature `credential` makes of `request` as `claim` describes it."""
    scope_date = claim.amz_date[0:8]
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            claim.amz_date,
            f"{scope_date}/{claim.region}/{claim.service}/aws4_request",
            sha256(canonical_request(claim, request, payload_hash).encode()).hexdigest(),
        )
    )
    key = signing_key(credential.secret_access_key, scope_date, claim.region, claim.service)
    return hmac.new(key, string_to_sign.encode(), sha256).hexdigest()


def canonical_request(claim: Claim, request: ReceivedRequest, payload_hash: str) -> str:
    """SigV4's canonical request, exactly as botocore's `SigV4Auth` forms it for the
    request as received: exactly the headers the client listed (a listed header it did
    not send is left out, and so fails; an unlisted one it did send is left out too),
    and `payload_hash` unless the client signed `x-amz-content-sha256` (then that
    header, which `_payload_hashes` has already held to the body)."""
    query = request.raw_query
    if claim.presigned_expires_s is not None:
        # The canonical query holds every parameter but the signature itself.
        query = "&".join(
            pair for pair in query.split("&") if not pair.startswith("X-Amz-Signature=")
        )
    path, canonical_query = _canonical_url(request.raw_path, query)
    signed: dict[str, str] = {}  # name: its values, each trimmed, joined with ","
    for name, value in request.headers:
        if name in claim.signed_headers:
            trimmed = " ".join(value.split())
            known = signed.get(name)
            signed[name] = trimmed if known is None else f"{known},{trimmed}"
    names = sorted(signed)
    headers = "".join(f"{name}:{signed[name]}\n" for name in names)
    declared = request.header("x-amz-content-sha256") if "x-amz-content-sha256" in signed else None
    body_checksum = payload_hash if declared is None else declared
    return "\n".join(
        (request.method.upper(), path, canonical_query, headers, ";".join(names), body_checksum)
    )


def _canonical_url(raw_path: str, query: str) -> tuple[str, str]:
    url = "http://lambdad" + raw_path + (f"?{query}" if query else "")
    if len(url) > _CACHED_URL_CHARS:
        return _canonical_path_and_query(url)
    return _cached_canonical_path_and_query(url)


def _canonical_path_and_query(url: str) -> tuple[str, str]:
    """botocore's canonical path and query of `url`: its path without dot segments
    and repeated slashes, URI-encoded once more; its query's pairs, sorted as sent."""
    parts = urlsplit(url)
    path = quote(normalize_url_path(parts.path), safe="/~")
    pairs = sorted(pair.partition("=")[::2] for pair in parts.query.split("&"))
    return path, "&".join(f"{key}={value}" for key, value in pairs) if parts.query else ""


# The same few paths are invoked over and over: their canonical forms are remembered.
_cached_canonical_path_and_query = lru_cache(maxsize=512)(_canonical_path_and_query)
_CACHED_URL_CHARS = 1024


@lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key (four HMACs), remembered per (secret, date, region,
    service) as the AWS SDKs do: it is the same for every request of a day."""
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), sha256).digest()
    return key
