"""Users and their access keys: what the operator manages with `lambdad users`
and `lambdad keys`, and the resolver that finds a key's secret for SigV4.

A user has a name, an id, the identity policy documents attached to it (JSON,
evaluated by authorization) and one access key (`AKIA…` + a 40-character
secret). The secret is shown once, when it is made, and stored sealed with the
server key; rotating a user's key replaces it (the old key stops working at
once). On a fresh data dir the server makes the `admin` user, allowed
everything (`ensure_admin`).
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdad.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from lambdad.iam.documents import MalformedPolicy, check_identity_policy, parse_identity_policy
from lambdad.iam.principal import Principal, ResolvedCredential, user_arn
from lambdad.iam.server_key import ServerKey
from lambdad.store import AccessKeyRow, UserRow, UserStore

ADMIN = "admin"
ADMIN_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
# IAM's user names: 1-64 of letters, digits and +=,.@_-
USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class UserExists(ResourceConflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"User with name {name} already exists.")


class NoSuchUser(ResourceNotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"The user with name {name} cannot be found.")


@dataclass(frozen=True)
class User:
    name: str
    user_id: str
    arn: str
    policies: list[dict[str, Any]]
    created_at: float
    access_key_ids: list[str]


@dataclass(frozen=True)
class NewKey:
    """A freshly made access key: the only time its secret is seen."""

    user_name: str
    access_key_id: str
    secret_access_key: str


class Users:
    def __init__(
        self,
        store: UserStore,
        server_key: ServerKey,
        account_id: str,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.server_key = server_key
        self.account_id = account_id
        # Called after each committed change (a running server's cache follows it:
        # `user_cache.ChangeMarker`).
        self.on_change = on_change

    def add(self, name: str, policies: list[dict[str, Any]]) -> NewKey:
        if not USER_NAME.match(name):
            raise InvalidParameterValue(
                f"Invalid user name {name!r}: 1-64 letters, digits and +=,.@_- only."
            )
        for document in policies:
            check_identity_policy(document)
        key, row = self._new_key(name)
        user = UserRow(name, _random_id("AIDA", 17), list(policies), time.time())
        if not self.store.create(user, row):
            raise UserExists(name)
        self._changed()
        return key

    def ensure_admin(self) -> NewKey | None:
        """Make the admin user when there is no user at all; its key, or None."""
        if self.store.count():
            return None
        try:
            return self.add(ADMIN, [ADMIN_POLICY])
        except UserExists:  # another server on the same database made it first
            return None

    def all(self) -> list[User]:
        return [self._user(row) for row in self.store.all()]

    def get(self, name: str) -> User:
        row = self.store.get(name)
        if row is None:
            raise NoSuchUser(name)
        return self._user(row)

    def policies_of(self, name: str) -> list[dict[str, Any]]:
        """The identity policy documents attached to user `name` (for authorization)."""
        return self.get(name).policies

    def remove(self, name: str) -> None:
        if not self.store.delete(name):
            raise NoSuchUser(name)
        self._changed()

    def rotate(self, name: str) -> NewKey:
        key, row = self._new_key(name)
        if not self.store.replace_keys(name, row):
            raise NoSuchUser(name)
        self._changed()
        return key

    def lookup(self, access_key_id: str) -> ResolvedCredential | None:
        """`CredentialResolver`: the secret of a user's access key."""
        row = self.store.key(access_key_id)
        if row is None:
            return None
        secret = self.server_key.open(row.secret_sealed, _context(access_key_id))
        principal = Principal.user(self.account_id, row.user_name, access_key_id)
        return ResolvedCredential(secret.decode(), None, principal)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _new_key(self, name: str) -> tuple[NewKey, AccessKeyRow]:
        key_id = _random_id("AKIA", 16)
        secret = base64.b64encode(secrets.token_bytes(30)).decode()
        sealed = self.server_key.seal(secret.encode(), _context(key_id))
        return NewKey(name, key_id, secret), AccessKeyRow(key_id, name, sealed, time.time())

    def _user(self, row: UserRow) -> User:
        keys = [key.access_key_id for key in self.store.keys_of(row.name)]
        arn = user_arn(self.account_id, row.name)
        return User(row.name, row.user_id, arn, row.policies, row.created_at, keys)


def read_policy_file(path: Path) -> dict[str, Any]:
    """An identity policy document from a file, checked as IAM checks one attached."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise MalformedPolicy(f"{path}: not a readable policy document ({exc}).") from None
    return parse_identity_policy(text)


def _context(access_key_id: str) -> bytes:
    return f"access-key:{access_key_id}".encode()


def _random_id(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(length))
