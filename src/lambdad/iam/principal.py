"""Who made a request, and how the verifier finds the secret of an access key.

The contract between authentication (SigV4, `iam/sigv4.py`, called from
`api/auth.py`) and authorization (policy evaluation):

- Every request the API serves carries a `Principal` in
  `request.state.principal` (ASGI `scope["state"]["principal"]`), attached
  before routing by `api.auth.Authentication`:
  a verified user (`PrincipalKind.USER`), a verified role session
  (`PrincipalKind.ROLE_SESSION`, credentials minted for an execution role), or
  `ANONYMOUS`: nobody signed, which happens only when authentication is off
  (`--auth off`, loopback only) or on a function URL whose AuthType is NONE.
  Authorization decides what each may do; authentication only says who it is.
- The verifier finds an access key's secret through a `CredentialResolver`.
  `CredentialResolvers` asks each registered resolver in turn: users' long-term
  keys (`iam.users.Users`, `AKIA…`) are one; role sessions (`ASIA…` keys with a
  session token) are another. A `ResolvedCredential` with a `session_token`
  requires the request to carry that exact token (`X-Amz-Security-Token`), and
  one with `expires_at` in the past is refused with `ExpiredTokenException`.
- `lookup` blocks (it may read the database): the API calls it through
  `run_sync`. It returns None for a key it does not know, never raises for one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class PrincipalKind(StrEnum):
    USER = "user"
    ROLE_SESSION = "role-session"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    """The caller of one request, as policies name it."""

    kind: PrincipalKind
    name: str
    """A user's name; a role session's `ROLE/SESSION`; "anonymous"."""
    arn: str
    """`arn:aws:iam::<account>:user/NAME`, `arn:aws:sts::<account>:assumed-role/ROLE/SESSION`,
    or "*" for anonymous (the Principal a policy grants to everyone)."""
    access_key_id: str | None = None

    @staticmethod
    def user(account_id: str, name: str, access_key_id: str | None = None) -> Principal:
        return Principal(PrincipalKind.USER, name, user_arn(account_id, name), access_key_id)

    @staticmethod
    def anonymous() -> Principal:
        return Principal(PrincipalKind.ANONYMOUS, "anonymous", "*")

    @property
    def is_anonymous(self) -> bool:
        return self.kind is PrincipalKind.ANONYMOUS


def user_arn(account_id: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:user/{name}"


@dataclass(frozen=True)
class ResolvedCredential:
    """What the verifier needs to check a signature made with one access key."""

    secret_access_key: str
    session_token: str | None
    principal: Principal
    expires_at: float | None = None
    """Epoch seconds after which the credential is refused (role sessions); None: never."""


class CredentialResolver(Protocol):
    def lookup(self, access_key_id: str) -> ResolvedCredential | None:
        """The credential of `access_key_id`, or None when this resolver does not know it
        (may block: called from a worker thread)."""
        ...

    def remembered(self, access_key_id: str) -> ResolvedCredential | None:
        """The credential if it is at hand in memory, else None (never blocks: called
        on the event loop before `lookup` is)."""
        ...


class CredentialResolvers:
    """Several resolvers asked in order (users' keys, role sessions, …): the first
    that knows the key answers."""

    def __init__(self, resolvers: Iterable[CredentialResolver] = ()) -> None:
        self._resolvers = list(resolvers)

    def add(self, resolver: CredentialResolver) -> None:
        self._resolvers.append(resolver)

    def lookup(self, access_key_id: str) -> ResolvedCredential | None:
        for resolver in self._resolvers:
            found = resolver.lookup(access_key_id)
            if found is not None:
                return found
        return None

    def remembered(self, access_key_id: str) -> ResolvedCredential | None:
        for resolver in self._resolvers:
            found = resolver.remembered(access_key_id)
            if found is not None:
                return found
        return None
