"""Logs (START/END/REPORT, log groups and streams), metrics and cost."""

from lambdad.telemetry.events import MAX_EVENT_BYTES
from lambdad.telemetry.log_format import LogFormatting
from lambdad.telemetry.logs import (
    DEFAULT_MAX_BYTES,
    FunctionLogs,
    Report,
    StreamLog,
    new_stream_name,
)
from lambdad.telemetry.metrics import MetricsRecorder
from lambdad.telemetry.retention import RETENTION_DAYS, check_retention_days
from lambdad.telemetry.tracing import InvocationTrace, Tracing

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_EVENT_BYTES",
    "RETENTION_DAYS",
    "FunctionLogs",
    "LogFormatting",
    "MetricsRecorder",
    "InvocationTrace",
    "Tracing",
    "Report",
    "StreamLog",
    "check_retention_days",
    "new_stream_name",
]
