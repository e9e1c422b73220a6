"""Role sessions: minted credentials resolve to the session's principal, expire, and
keep no secret anywhere (it is derived from the server key)."""

from __future__ import annotations

from lambdad.iam import PrincipalKind, RoleSessions

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/worker"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_minted_credentials_look_like_aws_and_resolve_to_the_session() -> None:
    sessions = RoleSessions(b"k" * 32, ACCOUNT, ttl_s=3600, clock=Clock())
    creds = sessions.mint(ROLE, "my-function")
    assert creds.access_key_id.startswith("ASIA") and len(creds.access_key_id) == 20
    assert set(creds.environment()) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    }
    resolved = sessions.lookup(creds.access_key_id)
    assert resolved is not None
    assert resolved.secret_access_key == creds.secret_access_key
    assert resolved.session_token == creds.session_token
    assert resolved.principal.kind is PrincipalKind.ROLE_SESSION
    assert resolved.principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/worker/my-function"
    assert sessions.role_of(resolved.principal) == ROLE


def test_each_mint_is_a_new_key_and_unknown_keys_resolve_to_nothing() -> None:
    sessions = RoleSessions(b"k" * 32, ACCOUNT)
    a, b = sessions.mint(ROLE, "f"), sessions.mint(ROLE, "f")
    assert a.access_key_id != b.access_key_id and a.secret_access_key != b.secret_access_key
    assert sessions.lookup("ASIANOTMINTEDHERE000") is None


def test_the_secret_depends_on_the_server_key() -> None:
    """Another server key (a copied database without the data dir's key) yields
    another secret for the same key id."""
    clock = Clock()
    ours = RoleSessions(b"a" * 32, ACCOUNT, clock=clock)
    creds = ours.mint(ROLE, "f")
    theirs = RoleSessions(b"b" * 32, ACCOUNT, clock=clock)
    assert theirs._secret(creds.access_key_id) != creds.secret_access_key


def test_credentials_expire_after_their_ttl_and_are_later_forgotten() -> None:
    clock = Clock()
    sessions = RoleSessions(b"k" * 32, ACCOUNT, ttl_s=60, clock=clock)
    creds = sessions.mint(ROLE, "f")
    assert creds.expires_at == clock.now + 60
    clock.now += 59
    assert sessions.lookup(creds.access_key_id) is not None
    clock.now += 1
    expired = sessions.lookup(creds.access_key_id)
    assert expired is not None and expired.expires_at == clock.now  # the verifier refuses it
    clock.now += 61
    sessions.mint(ROLE, "g")  # minting sweeps sessions long expired
    assert sessions.lookup(creds.access_key_id) is None


def test_environments_are_retired_before_an_invocation_could_outlive_them() -> None:
    sessions = RoleSessions(b"k" * 32, ACCOUNT, ttl_s=3600)
    assert sessions.ttl_s - sessions.rotation_age_s > 900  # the longest timeout
