"""Rows of users and their access keys. Secrets arrive here already sealed
(`iam/server_key.py`); this module never sees one in the clear.
Every method is blocking (`run_sync`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors, reading
from lambdad.store.schema import iam_access_keys, iam_users


@dataclass(frozen=True)
class UserRow:
    name: str
    user_id: str
    policies: list[dict[str, Any]]
    created_at: float


@dataclass(frozen=True)
class AccessKeyRow:
    access_key_id: str
    user_name: str
    secret_sealed: bytes
    created_at: float


class UserStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, user: UserRow, key: AccessKeyRow) -> bool:
        """Add a user with its first key; False when the name is taken."""
        with map_db_errors(), self.engine.begin() as conn:
            taken = conn.execute(
                sa.select(iam_users.c.name).where(iam_users.c.name == user.name)
            ).first()
            if taken is not None:
                return False
            conn.execute(sa.insert(iam_users).values(**user.__dict__))
            conn.execute(sa.insert(iam_access_keys).values(**key.__dict__))
            return True

    def get(self, name: str) -> UserRow | None:
        with map_db_errors(), reading(self.engine) as conn:
            row = conn.execute(sa.select(iam_users).where(iam_users.c.name == name)).first()
        return None if row is None else _user(row)

    def all(self) -> list[UserRow]:
        with map_db_errors(), self.engine.connect() as conn:
            rows = conn.execute(sa.select(iam_users).order_by(iam_users.c.name)).all()
        return [_user(row) for row in rows]

    def count(self) -> int:
        with map_db_errors(), self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(iam_users)).scalar_one())

    def delete(self, name: str) -> bool:
        with map_db_errors(), self.engine.begin() as conn:
            # Keys first: the cascade needs foreign keys on, which not every engine has.
            conn.execute(sa.delete(iam_access_keys).where(iam_access_keys.c.user_name == name))
            return bool(conn.execute(sa.delete(iam_users).where(iam_users.c.name == name)).rowcount)

    def replace_keys(self, name: str, key: AccessKeyRow) -> bool:
        """The user's keys become `key` alone; False when there is no such user."""
        with map_db_errors(), self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(iam_users.c.name).where(iam_users.c.name == name)
            ).first()
            if exists is None:
                return False
            conn.execute(sa.delete(iam_access_keys).where(iam_access_keys.c.user_name == name))
            conn.execute(sa.insert(iam_access_keys).values(**key.__dict__))
            return True

    def key(self, access_key_id: str) -> AccessKeyRow | None:
        with map_db_errors(), reading(self.engine) as conn:
            row = conn.execute(
                sa.select(iam_access_keys).where(iam_access_keys.c.access_key_id == access_key_id)
            ).first()
        return None if row is None else _key(row)

    def keys_of(self, name: str) -> list[AccessKeyRow]:
        with map_db_errors(), self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(iam_access_keys)
                .where(iam_access_keys.c.user_name == name)
                .order_by(iam_access_keys.c.created_at)
            ).all()
        return [_key(row) for row in rows]


def _user(row: Any) -> UserRow:
    return UserRow(row.name, row.user_id, list(row.policies), row.created_at)


def _key(row: Any) -> AccessKeyRow:
    return AccessKeyRow(row.access_key_id, row.user_name, bytes(row.secret_sealed), row.created_at)
