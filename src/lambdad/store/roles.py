"""Rows of execution roles: name, policy document, creation time. Blocking (`run_sync`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors
from lambdad.store.schema import roles


@dataclass(frozen=True)
class RoleRow:
    name: str
    policy: dict[str, Any]
    created_at: float


class RoleStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, name: str, policy: dict[str, Any]) -> bool:
        """Add the role, or replace its policy; True when it is new."""
        with map_db_errors(), self.engine.begin() as conn:
            changed = conn.execute(
                sa.update(roles).where(roles.c.name == name).values(policy=policy)
            ).rowcount
            if changed:
                return False
            conn.execute(sa.insert(roles).values(name=name, policy=policy, created_at=time.time()))
            return True

    def get(self, name: str) -> RoleRow | None:
        with map_db_errors(), self.engine.connect() as conn:
            row = conn.execute(sa.select(roles).where(roles.c.name == name)).first()
        return None if row is None else RoleRow(row.name, row.policy, row.created_at)

    def list(self) -> list[RoleRow]:
        with map_db_errors(), self.engine.connect() as conn:
            rows = conn.execute(sa.select(roles).order_by(roles.c.name)).all()
        return [RoleRow(r.name, r.policy, r.created_at) for r in rows]

    def remove(self, name: str) -> bool:
        with map_db_errors(), self.engine.begin() as conn:
            return bool(conn.execute(sa.delete(roles).where(roles.c.name == name)).rowcount)
