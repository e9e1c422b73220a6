"""Short-lived credentials for execution roles, and their lookup (a `CredentialResolver`).

Lambda gives every execution environment credentials of the function's role
(`AWS_ACCESS_KEY_ID` ASIA..., `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
valid for a while; here they sign requests to lambdad's own API, which knows
the caller as `arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION` and holds it to
the role's policy.

- **Lifetime.** A session is valid for `ttl_s` (1 hour, as AWS's default).
  Environment variables cannot change under a running process, so rotation is
  by retirement: the pool hands out no environment whose credentials have less
  than `ROTATION_MARGIN_S` left (longer than the longest invocation, 15
  minutes) and destroys it, and the next cold start mints fresh ones
  (`pool.EnvironmentPool(max_age_s=...)`).
- **Secrets.** The secret of a session is HMAC(server key, access key id): it
  is never stored, and the server key lives in the data dir, not the
  database. Sessions themselves (key id, token, expiry) are kept in memory:
  they die with the server, and so do the environments holding them.
- **Expiry.** `lookup` hands the verifier the session's `expires_at`, which
  refuses it past then with AWS's `ExpiredTokenException`; an expired session
  is remembered for `ttl_s` more so that its use gets that error rather than
  an unknown-key one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lambdad.iam.principal import Principal, PrincipalKind, ResolvedCredential

DEFAULT_TTL_S = 3600.0
ROTATION_MARGIN_S = 16 * 60.0
"""An environment is retired this long before its credentials expire: more than
the longest invocation (900 s), so no invocation outlives its credentials."""
_KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True)
class SessionCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: float
    """Wall-clock seconds."""

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


@dataclass(frozen=True)
class _Session:
    principal: Principal
    role_arn: str
    token: str
    expires_at: float


def role_session_arn(account_id: str, role_arn: str, session_name: str) -> str:
    role_name = role_arn.rsplit("/", 1)[-1]
    return f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"


class RoleSessions:
    """Mints role sessions and resolves their access key ids. Thread-safe: the
    verifier may look up from a worker thread while the pool mints."""

    def __init__(
        self,
        key: bytes,
        account_id: str,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        """The server key's derivation for role sessions (`ServerKey.derive`)."""
        self.account_id = account_id
        self.ttl_s = ttl_s
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    @property
    def rotation_age_s(self) -> float:
        """How old an environment may grow before it is retired for fresh credentials."""
        return max(self.ttl_s - ROTATION_MARGIN_S, self.ttl_s / 2)

    def mint(self, role_arn: str, session_name: str) -> SessionCredentials:
        """New credentials for `role_arn`, named `session_name` (the function's name)."""
        now = self._clock()
        key_id = "ASIA" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
        token = base64.b64encode(secrets.token_bytes(96)).decode()
        principal = Principal(
            kind=PrincipalKind.ROLE_SESSION,
            name=f"{role_arn.rsplit('/', 1)[-1]}/{session_name}",
            arn=role_session_arn(self.account_id, role_arn, session_name),
            access_key_id=key_id,
        )
        session = _Session(principal, role_arn, token, now + self.ttl_s)
        with self._lock:
            self._forget_older_than(now - self.ttl_s)
            self._sessions[key_id] = session
        return SessionCredentials(key_id, self._secret(key_id), token, session.expires_at)

    def lookup(self, access_key_id: str) -> ResolvedCredential | None:
        """`CredentialResolver`: the credential of a session (expired ones too, with
        their `expires_at`: the verifier refuses them), None for a key it never made."""
        with self._lock:
            session = self._sessions.get(access_key_id)
        if session is None:
            return None
        return ResolvedCredential(
            self._secret(access_key_id), session.token, session.principal, session.expires_at
        )

    def remembered(self, access_key_id: str) -> ResolvedCredential | None:
        """`CredentialResolver`: sessions live in memory, so this is `lookup`."""
        return self.lookup(access_key_id)

    def export(self, access_key_id: str) -> dict[str, str | float] | None:
        """A session this process minted, as another process of the same server (same
        server key) `adopt`s it (`lambdad.workers`); None for a key it never made.
        The secret is not in it: it is derived from the key id."""
        with self._lock:
            session = self._sessions.get(access_key_id)
        if session is None:
            return None
        return {
            "key": access_key_id,
            "name": session.principal.name,
            "arn": session.principal.arn,
            "role": session.role_arn,
            "token": session.token,
            "expires_at": session.expires_at,
        }

    def adopt(self, record: dict[str, str | float]) -> None:
        """Know a session another process minted (`export`'s record)."""
        key_id = str(record["key"])
        principal = Principal(
            kind=PrincipalKind.ROLE_SESSION,
            name=str(record["name"]),
            arn=str(record["arn"]),
            access_key_id=key_id,
        )
        role, token = str(record["role"]), str(record["token"])
        session = _Session(principal, role, token, float(record["expires_at"]))
        with self._lock:
            self._sessions[key_id] = session

    def role_of(self, principal: Principal) -> str | None:
        """The role ARN a role-session principal acts for."""
        if principal.access_key_id is None:
            return None
        with self._lock:
            session = self._sessions.get(principal.access_key_id)
        return None if session is None else session.role_arn

    def _secret(self, access_key_id: str) -> str:
        digest = hmac.new(self._key, access_key_id.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest[:30]).decode()

    def _forget_older_than(self, cutoff: float) -> None:
        expired = [k for k, s in self._sessions.items() if s.expires_at < cutoff]
        for key_id in expired:
            del self._sessions[key_id]
