"""Rows of PutFunctionEventInvokeConfig: one per function + qualifier.

Deleted with the function (or its version) by `FunctionStore`; every method
is blocking, callers run it through `run_sync`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdad.store.qualifier_rows import QualifierRows
from lambdad.store.regional import RegionalStore
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


class EventInvokeConfigStore(RegionalStore):
    @property
    def _rows(self) -> QualifierRows[EventInvokeConfigRow]:
        return QualifierRows(self.engine, event_invoke_configs, EventInvokeConfigRow, self.region)

    def get(self, function_name: str, qualifier: str) -> EventInvokeConfigRow | None:
        return self._rows.get(function_name, qualifier)

    def list(self, function_name: str) -> list[EventInvokeConfigRow]:
        return self._rows.list(function_name)

    def put(self, row: EventInvokeConfigRow) -> None:
        """Insert or replace the row of `row.function_name` + `row.qualifier`."""
        self._rows.put(row)

    def delete(self, function_name: str, qualifier: str) -> bool:
        return self._rows.delete(function_name, qualifier)
