"""Rows of resource policies: one per statement, and one RevisionId per policy.

A policy is the statements of one function + qualifier of the store's region. Changes are
compare-and-swap on the policy's RevisionId, so two writers that read the
same revision cannot both win. Every method is blocking (`run_sync`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lambdad.store.database import map_db_errors
from lambdad.store.regional import RegionalStore
from lambdad.store.schema import policies, policy_revisions


@dataclass(frozen=True)
class PolicyRows:
    revision_id: str | None
    """None: the resource has no policy (never had one, or its last statement went)."""
    statements: list[dict[str, Any]]


class PolicyStore(RegionalStore):
    def get(self, function_name: str, qualifier: str) -> PolicyRows:
        with map_db_errors(), self.engine.connect() as conn:
            return self._read(conn, function_name, qualifier)

    def add(
        self,
        function_name: str,
        qualifier: str,
        expected_revision: str | None,
        statement_id: str,
        statement: dict[str, Any],
        new_revision: str,
    ) -> bool:
        """Add a statement if the policy is still at `expected_revision`."""
        with map_db_errors(), self.engine.begin() as conn:
            if not self._swap(conn, function_name, qualifier, expected_revision, new_revision):
                return False
            conn.execute(
                sa.insert(policies).values(
                    region=self.region,
                    function_name=function_name,
                    qualifier=qualifier,
                    statement_id=statement_id,
                    statement=statement,
                    added_at=time.time(),
                )
            )
            return True

    def remove(
        self,
        function_name: str,
        qualifier: str,
        expected_revision: str,
        statement_id: str,
        new_revision: str,
    ) -> bool:
        """Remove a statement if the policy is still at `expected_revision`."""
        with map_db_errors(), self.engine.begin() as conn:
            if not self._swap(conn, function_name, qualifier, expected_revision, new_revision):
                return False
            conn.execute(
                sa.delete(policies).where(
                    self._of(policies, function_name, qualifier),
                    policies.c.statement_id == statement_id,
                )
            )
            if not self._read(conn, function_name, qualifier).statements:
                conn.execute(
                    sa.delete(policy_revisions).where(
                        self._of(policy_revisions, function_name, qualifier)
                    )
                )
            return True

    def _of(self, table: sa.Table, function_name: str, qualifier: str) -> sa.ColumnElement[bool]:
        return sa.and_(self.of_function(table, function_name), table.c.qualifier == qualifier)

    def _read(self, conn: sa.Connection, function_name: str, qualifier: str) -> PolicyRows:
        revision = conn.execute(
            sa.select(policy_revisions.c.revision_id).where(
                self._of(policy_revisions, function_name, qualifier)
            )
        ).scalar_one_or_none()
        rows = conn.execute(
            sa.select(policies.c.statement)
            .where(self._of(policies, function_name, qualifier))
            .order_by(policies.c.added_at, policies.c.statement_id)
        )
        return PolicyRows(revision_id=revision, statements=[dict(r.statement) for r in rows])

    def _swap(
        self,
        conn: sa.Connection,
        function_name: str,
        qualifier: str,
        expected: str | None,
        new: str,
    ) -> bool:
        if expected is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(policy_revisions).values(
                            region=self.region,
                            function_name=function_name,
                            qualifier=qualifier,
                            revision_id=new,
                        )
                    )
            except sa.exc.IntegrityError:
                return False
            return True
        result = conn.execute(
            sa.update(policy_revisions)
            .where(
                self._of(policy_revisions, function_name, qualifier),
                policy_revisions.c.revision_id == expected,
            )
            .values(revision_id=new)
        )
        return result.rowcount == 1
