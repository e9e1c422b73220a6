"""Rows of PutFunctionEventInvokeConfig: one per function + qualifier.

Deleted with the function (or its version) by `FunctionStore`; every method
is blocking, callers run it through `run_sync`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors
from lambdad.store.schema import event_invoke_configs


@dataclass(frozen=True)
class EventInvokeConfigRow:
    function_name: str
    qualifier: str
    maximum_retry_attempts: int | None
    maximum_event_age_s: int | None
    on_success: str | None
    on_failure: str | None
    last_modified: float


class EventInvokeConfigStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, function_name: str, qualifier: str) -> EventInvokeConfigRow | None:
        query = sa.select(event_invoke_configs).where(
            event_invoke_configs.c.function_name == function_name,
            event_invoke_configs.c.qualifier == qualifier,
        )
        with map_db_errors(), self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else EventInvokeConfigRow(**row._mapping)

    def list(self, function_name: str) -> list[EventInvokeConfigRow]:
        query = (
            sa.select(event_invoke_configs)
            .where(event_invoke_configs.c.function_name == function_name)
            .order_by(event_invoke_configs.c.qualifier)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [EventInvokeConfigRow(**r._mapping) for r in conn.execute(query)]

    def put(self, row: EventInvokeConfigRow) -> None:
        """Insert or replace the row of `row.function_name` + `row.qualifier`."""
        with map_db_errors(), self.engine.begin() as conn:
            self._delete(conn, row.function_name, row.qualifier)
            conn.execute(sa.insert(event_invoke_configs).values(**row.__dict__))

    def delete(self, function_name: str, qualifier: str) -> bool:
        with map_db_errors(), self.engine.begin() as conn:
            return self._delete(conn, function_name, qualifier)

    @staticmethod
    def _delete(conn: sa.Connection, function_name: str, qualifier: str) -> bool:
        result = conn.execute(
            sa.delete(event_invoke_configs).where(
                event_invoke_configs.c.function_name == function_name,
                event_invoke_configs.c.qualifier == qualifier,
            )
        )
        return result.rowcount == 1
