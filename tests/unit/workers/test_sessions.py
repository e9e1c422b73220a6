"""Role sessions across processes: what the primary learns from the secondary that
minted a session, and what a secondary does with one it did not mint."""

from __future__ import annotations

from typing import Any

import pytest

from lambdad.iam.role_sessions import RoleSessions
from lambdad.workers.gate import ForwardToPrimary
from lambdad.workers.sessions import ForwardUnknownSessions, SessionsOfSecondaries, session_answer

KEY = b"k" * 32  # both processes derive their sessions' secrets from the same server key
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/invoker"


def test_a_session_the_primary_adopts_verifies_as_the_minter_does() -> None:
    minter, primary = RoleSessions(KEY, ACCOUNT), RoleSessions(KEY, ACCOUNT)
    minted = minter.mint(ROLE, "my-function")
    record = session_answer(minter, {"kind": "session", "key": minted.access_key_id})
    assert set(record) == {"key", "name", "arn", "role", "token", "expires_at"}  # no secret
    primary.adopt(record)
    theirs, ours = minter.lookup(minted.access_key_id), primary.lookup(minted.access_key_id)
    assert ours == theirs
    assert ours is not None and ours.secret_access_key == minted.secret_access_key
    assert primary.role_of(ours.principal) == ROLE
    assert session_answer(minter, {"kind": "session", "key": "ASIAUNKNOWN"}) is None


def test_a_secondary_sends_a_session_key_it_did_not_mint_to_the_primary() -> None:
    resolver = ForwardUnknownSessions()
    with pytest.raises(ForwardToPrimary):
        resolver.lookup("ASIAMINTEDELSEWHERE0")
    assert resolver.lookup("AKIAAUSERSKEY0000000") is None  # a user's: unknown is unknown
    assert resolver.remembered("ASIAMINTEDELSEWHERE0") is None  # never on the event loop


class FakeBus:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.asked: list[dict[str, Any]] = []

    def connected(self) -> dict[int, int]:
        return {1: 1001}

    async def publish(self, event: dict[str, Any]) -> list[Any]:
        self.asked.append(event)
        return self.answers


def test_the_primary_asks_the_secondaries_once_and_keeps_the_answer() -> None:
    import anyio.from_thread

    minter, primary = RoleSessions(KEY, ACCOUNT), RoleSessions(KEY, ACCOUNT)
    minted = minter.mint(ROLE, "my-function")
    bus = FakeBus([None, minter.export(minted.access_key_id)])
    resolver = SessionsOfSecondaries(primary, bus)  # type: ignore[arg-type]
    assert resolver.lookup("AKIAAUSERSKEY0000000") is None and not bus.asked
    with anyio.from_thread.start_blocking_portal() as portal:
        found = portal.start_task_soon(
            anyio.to_thread.run_sync, resolver.lookup, minted.access_key_id
        ).result()
    assert found is not None and found.secret_access_key == minted.secret_access_key
    assert bus.asked == [{"kind": "session", "key": minted.access_key_id}]
    assert primary.lookup(minted.access_key_id) == found  # kept: not asked again
