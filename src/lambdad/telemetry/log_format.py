"""A function's `LoggingConfig` applied to its log stream: Text or JSON platform lines,
and the log-level filters of Lambda's advanced logging controls.

Text (the default): `START RequestId: ... Version: ...`, the output as it is,
`END RequestId: ...` and the tab-separated `REPORT` line.

JSON: the platform's lines are AWS's JSON records,
`{"time": ..., "type": "platform.start", "record": {"requestId", "version"}}`,
`platform.report` with its `metrics` and `status` (and `platform.initStart`,
written by the runtime's launch plan; `platform.runtimeDone` at system level
DEBUG). Every event then has a level, and the stream keeps only those at or
above the function's levels: a platform record's is its type's
(`SystemLogLevel`), an application line's is its JSON `level` field, or INFO
for a line that has none or is not JSON (`ApplicationLogLevel`), as Lambda
filters. The runtimes' own loggers (Python's `logging`, Node's `console`)
write AWS's JSON records and filter at the source too (AWS_LAMBDA_LOG_FORMAT,
AWS_LAMBDA_LOG_LEVEL).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambdad.catalog import LoggingConfig

if TYPE_CHECKING:
    from lambdad.telemetry.logs import Report

APPLICATION_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")
_RANK = {name: rank for rank, name in enumerate(APPLICATION_LEVELS)}
_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}
_SYSTEM_TYPES = {
    "platform.runtimeDone": "DEBUG",
    "platform.initStart": "INFO",
    "platform.initReport": "INFO",
    "platform.start": "INFO",
    "platform.report": "INFO",
}
"""A platform record's level (any other platform type: WARN)."""


def iso_time(ms: int) -> str:
    """2024-01-31T12:00:00.123Z, as AWS's records have it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def platform_record(kind: str, record: dict[str, Any], now_ms: int) -> str:
    return json.dumps(
        {"time": iso_time(now_ms), "type": kind, "record": record}, separators=(",", ":")
    )


def _level(value: object) -> int:
    """An application line's level rank (INFO when missing or not a level)."""
    name = value.upper() if isinstance(value, str) else "INFO"
    return _RANK.get(_ALIASES.get(name, name), _RANK["INFO"])


@dataclass(frozen=True)
class LogFormatting:
    json: bool = False
    application_level: str = "INFO"
    system_level: str = "INFO"

    @classmethod
    def of(cls, logging: LoggingConfig | None) -> LogFormatting:
        if logging is None or logging.log_format != "JSON":
            return TEXT
        return cls(
            True, logging.application_log_level or "INFO", logging.system_log_level or "INFO"
        )

    @property
    def filters(self) -> bool:
        """Whether events must pass `keep` (JSON only: Text keeps everything)."""
        return self.json

    def start(self, request_id: str, version: str, now_ms: int) -> list[str]:
        if not self.json:
            return [f"START RequestId: {request_id} Version: {version}"]
        record = {"requestId": request_id, "version": version}
        return [platform_record("platform.start", record, now_ms)]

    def end(
        self,
        report: Report,
        status: str,
        error_type: str | None,
        error_lines: list[str],
        now_ms: int,
    ) -> list[str]:
        """The lines after an invocation's output: `status` is the Telemetry API's
        (success, error, failure, timeout)."""
        request_id = report.request_id
        if not self.json:
            return [*error_lines, f"END RequestId: {request_id}", report.line()]
        metrics: dict[str, Any] = {
            "durationMs": round(report.duration_ms, 3),
            "billedDurationMs": report.billed_duration_ms,
            "memorySizeMB": report.memory_size_mb,
            "maxMemoryUsedMB": report.max_memory_used_mb,
        }
        if report.init_duration_ms is not None:
            metrics["initDurationMs"] = round(report.init_duration_ms, 3)
        if report.restore_duration_ms is not None:
            metrics["restoreDurationMs"] = round(report.restore_duration_ms, 3)
            metrics["billedRestoreDurationMs"] = report.billed_restore_duration_ms
        done: dict[str, Any] = {"requestId": request_id, "status": status}
        if error_type is not None and status != "success":
            done["errorType"] = error_type
        lines = [platform_record("platform.runtimeDone", done, now_ms)]
        lines.append(platform_record("platform.report", {**done, "metrics": metrics}, now_ms))
        return lines

    def keep(self, message: bytes) -> bool:
        """Whether an event passes the levels (call only when `filters`)."""
        found: Any = None
        if message[:1] == b"{":
            try:
                found = json.loads(message)
            except ValueError:
                found = None
        if isinstance(found, dict):
            kind = found.get("type")
            if isinstance(kind, str) and kind.startswith("platform."):
                rank = SYSTEM_LEVELS.index(_SYSTEM_TYPES.get(kind, "WARN"))
                return rank >= SYSTEM_LEVELS.index(self.system_level)
            return _level(found.get("level")) >= _RANK[self.application_level]
        return _RANK["INFO"] >= _RANK[self.application_level]


TEXT = LogFormatting()
