"""Role sessions across the server's processes.

Each process mints the role sessions of the environments it starts
(`iam.RoleSessions`, in memory). A function signs its calls to lambdad's API with
them, and the kernel hands its connection to any process. So:

- a secondary serves a request signed with a session key only when it minted
  that session; any other session key (`ASIA...`) goes to the primary
  (`ForwardUnknownSessions`, the last of its credential resolvers);
- the primary, asked for a session key it does not know, asks the secondaries
  over the change bus, and the one that minted it answers with the session
  (`SessionsOfSecondaries`), which the primary then keeps (`RoleSessions.adopt`).
  The secret is never sent: every process derives it from the server key.
"""

from __future__ import annotations

from typing import Any

import anyio.from_thread

from lambdad.iam import ResolvedCredential
from lambdad.iam.role_sessions import RoleSessions
from lambdad.workers.bus import ChangeBus
from lambdad.workers.gate import ForwardToPrimary

SESSION_KEY_PREFIX = "ASIA"


class ForwardUnknownSessions:
    """A secondary's last `CredentialResolver`: a session key it did not mint sends
    the request to the primary (`ForwardToPrimary`). Its `lookup` runs off the event
    loop, once the cheaper resolvers found nothing."""

    def lookup(self, access_key_id: str) -> ResolvedCredential | None:
        if access_key_id.startswith(SESSION_KEY_PREFIX):
            raise ForwardToPrimary
        return None

    def remembered(self, access_key_id: str) -> ResolvedCredential | None:
        return None


class SessionsOfSecondaries:
    """The primary's last `CredentialResolver`: a session key it does not know, from
    the secondary that minted it (asked from a worker thread, over the bus)."""

    def __init__(self, sessions: RoleSessions, bus: ChangeBus) -> None:
        self.sessions = sessions
        self.bus = bus

    def lookup(self, access_key_id: str) -> ResolvedCredential | None:
        if not access_key_id.startswith(SESSION_KEY_PREFIX) or not self.bus.connected():
            return None
        answers = anyio.from_thread.run(self.bus.publish, {"kind": "session", "key": access_key_id})
        for record in answers:
            if isinstance(record, dict) and record.get("key") == access_key_id:
                self.sessions.adopt(record)
                return self.sessions.lookup(access_key_id)
        return None

    def remembered(self, access_key_id: str) -> ResolvedCredential | None:
        return None


def session_answer(sessions: RoleSessions, event: dict[str, Any]) -> Any:
    """A secondary's answer to the primary's question about a session key."""
    return sessions.export(str(event.get("key", "")))
