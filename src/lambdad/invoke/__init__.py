"""One invocation end to end: qualifiers, concurrency, the sync path, the async queue."""

from lambdad.invoke.async_queue import AsyncQueue
from lambdad.invoke.async_retry import RetryTimes
from lambdad.invoke.concurrency import ConcurrencyLimiter
from lambdad.invoke.invoker import Invoker
from lambdad.invoke.requests import (
    MAX_ASYNC_PAYLOAD,
    MAX_SYNC_PAYLOAD,
    InvokeResult,
    check_client_context,
    check_payload,
    new_trace_id,
    new_trace_root,
)
from lambdad.invoke.streamed import (
    Failed,
    Finished,
    ResponseStream,
    Run,
    Started,
    StreamEvent,
    streamed_invocation,
)
from lambdad.invoke.version_cache import Resolved, VersionCache

__all__ = [
    "MAX_ASYNC_PAYLOAD",
    "MAX_SYNC_PAYLOAD",
    "AsyncQueue",
    "ConcurrencyLimiter",
    "Failed",
    "Finished",
    "InvokeResult",
    "Resolved",
    "ResponseStream",
    "RetryTimes",
    "Run",
    "Started",
    "StreamEvent",
    "VersionCache",
    "Invoker",
    "check_client_context",
    "check_payload",
    "new_trace_id",
    "new_trace_root",
    "streamed_invocation",
]
