"""Traces: one per invocation of a function whose TracingConfig is Active (or whose
caller sampled the request: `Sampled=1` under PassThrough), as Lambda records
them in X-Ray.

An invocation's trace is its X-Ray root (from `X-Amzn-Trace-Id`, or new) with
spans: the invocation (`<function name>`), and inside it `Queued` (an async
event's wait), the cold start's phases (`Sandbox`, `Runtime start and Init`; from a
ready environment `Mounts and limits`, `Init`), and `Invoke` (the handler).
The function runs with `Parent=` the Invoke span, so what it calls joins the
trace. Spans go two ways:

- exported with the OpenTelemetry SDK (batched, in its own thread) over OTLP/HTTP
  when an endpoint is configured, the X-Ray root mapped to the W3C trace id;
- kept as X-Ray segment documents (one per invocation, its spans as
  subsegments) in the store, bounded, for the X-Ray API (GetTraceSummaries,
  BatchGetTraces) and the console; written in batches off the request path.

Sampling: every Active invocation is traced unless the caller said `Sampled=0`
(AWS samples 1 request a second and 5% of the rest; lambdad keeps all).
"""

from __future__ import annotations

import contextvars
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode

from lambdad.background import flush_periodically
from lambdad.concurrency import run_sync
from lambdad.store import SegmentRow, TraceStore
from lambdad.telemetry.xray_ids import (
    TraceHeader,
    new_root,
    otel_trace_id,
    parse,
    span_hex,
)

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 2.0
MAX_PENDING = 10000
"""Segments waiting for their write; past it the oldest are dropped (and said so)."""
_NEXT_TRACE_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "lambdad_trace_id", default=None
)


class _XRayIds(RandomIdGenerator):
    """A root span's trace id is its invocation's X-Ray root (set just before)."""

    def generate_trace_id(self) -> int:
        wanted = _NEXT_TRACE_ID.get()
        return wanted if wanted is not None else super().generate_trace_id()


def _ns(epoch: float) -> int:
    return int(epoch * 1e9)


@dataclass
class _Sub:
    name: str
    span: trace.Span
    start: float
    end: float = 0.0
    error: bool = False


@dataclass
class InvocationTrace:
    """One traced invocation's spans while it runs; the invoker drives it."""

    tracer: trace.Tracer
    root: str
    parent: str | None
    others: tuple[str, ...]
    function_name: str
    function_arn: str
    region: str
    request_id: str
    started: float
    span: trace.Span = field(init=False)
    subsegments: list[_Sub] = field(default_factory=list)
    _invoke: _Sub | None = None

    def __post_init__(self) -> None:
        trace_id = otel_trace_id(self.root)
        context = None
        if self.parent is not None:
            remote = SpanContext(
                trace_id,
                int(self.parent, 16),
                is_remote=True,
                trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
            )
            context = trace.set_span_in_context(NonRecordingSpan(remote))
        token = _NEXT_TRACE_ID.set(trace_id)
        try:
            self.span = self.tracer.start_span(
                self.function_name,
                context=context,
                kind=SpanKind.SERVER,
                start_time=_ns(self.started),
                attributes={
                    "faas.name": self.function_name,
                    "cloud.resource_id": self.function_arn,
                    "cloud.region": self.region,
                    "faas.invocation_id": self.request_id,
                    "aws.xray.trace_id": self.root,
                },
            )
        finally:
            _NEXT_TRACE_ID.reset(token)

    @property
    def span_id(self) -> str:
        return span_hex(self.span.get_span_context().span_id)

    def _child(self, name: str, start: float, end: float | None = None) -> _Sub:
        context = trace.set_span_in_context(self.span)
        span = self.tracer.start_span(name, context=context, start_time=_ns(start))
        sub = _Sub(name, span, start)
        if end is not None:
            sub.end = end
            span.end(end_time=_ns(end))
        self.subsegments.append(sub)
        return sub

    def queued(self, enqueued_at: float) -> None:
        """The async event waited in the queue from `enqueued_at` until now."""
        self._child("Queued", enqueued_at, self.started)

    def cold_start(self, ended_at: float, phases_ms: dict[str, float]) -> None:
        """The cold start's phases (the environment's, in order), ending at `ended_at`."""
        at = ended_at - sum(phases_ms.values()) / 1000
        for phase, ms in phases_ms.items():
            end = at + ms / 1000
            self._child(phase[:1].upper() + phase[1:], at, end)
            at = end

    def invoking(self) -> str:
        """Start the handler's span; the trace header the function runs with."""
        self._invoke = self._child("Invoke", time.time())
        parent = span_hex(self._invoke.span.get_span_context().span_id)
        return TraceHeader(self.root, parent, True, self.others).render()

    def end(self, error_type: str | None = None, function_error: bool = False) -> dict[str, Any]:
        """End every span; the invocation's X-Ray segment document."""
        now = time.time()
        fault = bool(error_type) and not function_error
        if self._invoke is not None and not self._invoke.end:
            self._invoke.end = now
            self._invoke.error = function_error
            if function_error or fault:
                self._invoke.span.set_status(Status(StatusCode.ERROR, error_type or "error"))
            self._invoke.span.end(end_time=_ns(now))
        if function_error or fault:
            self.span.set_status(Status(StatusCode.ERROR, error_type or "error"))
        self.span.set_attribute("faas.error", bool(function_error))
        self.span.end(end_time=_ns(now))
        document: dict[str, Any] = {
            "id": self.span_id,
            "trace_id": self.root,
            "name": self.function_name,
            "start_time": self.started,
            "end_time": now,
            "origin": "AWS::Lambda::Function",
            "resource_arn": self.function_arn,
            "aws": {"request_id": self.request_id, "function_arn": self.function_arn},
            "subsegments": [
                {
                    "id": span_hex(s.span.get_span_context().span_id),
                    "name": s.name,
                    "start_time": s.start,
                    "end_time": s.end,
                    **({"error": True} if s.error else {}),
                }
                for s in self.subsegments
            ],
        }
        if self.parent is not None:
            document["parent_id"] = self.parent
        if function_error:
            document["error"] = True
        if fault:
            document["fault"] = True
        if error_type:
            document["cause"] = {"exceptions": [{"type": error_type}]}
        return document


class Tracing:
    def __init__(
        self,
        store: TraceStore | None = None,
        exporter: SpanExporter | None = None,
        max_segments: int = 10000,
    ) -> None:
        self.store = store
        self.max_segments = max_segments
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": "lambdad", "cloud.provider": "aws"}),
            id_generator=_XRayIds(),
        )
        self.exporting = exporter is not None
        if exporter is not None:
            self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("lambdad")
        self._pending: list[SegmentRow] = []

    def start(
        self,
        mode: str,
        header: str,
        *,
        function_name: str,
        function_arn: str,
        region: str,
        request_id: str,
        started: float,
    ) -> InvocationTrace | None:
        """The invocation's trace when it is to be recorded, else None (cheap)."""
        if mode != "Active" and "Sampled=1" not in header:
            return None
        parsed = parse(header)
        if parsed.sampled is False:
            return None
        return InvocationTrace(
            self.tracer,
            parsed.root or new_root(started),
            parsed.parent,
            parsed.others,
            function_name,
            function_arn,
            region,
            request_id,
            started,
        )

    def finished(self, traced: InvocationTrace, document: dict[str, Any]) -> None:
        """Keep the invocation's segment for the store's next batch."""
        self._pending.append(
            SegmentRow(
                id=str(document["id"]),
                trace_id=traced.root,
                region=traced.region,
                function_name=traced.function_name,
                start_time=float(document["start_time"]),
                end_time=float(document["end_time"]),
                error=bool(document.get("error")),
                fault=bool(document.get("fault")),
                document=document,
            )
        )
        if len(self._pending) > MAX_PENDING:
            dropped = len(self._pending) - MAX_PENDING
            del self._pending[:dropped]
            log.warning("traces: %d segments dropped (the store is behind)", dropped)

    async def run(self, interval_s: float = FLUSH_INTERVAL_S) -> None:
        await flush_periodically(self.flush, interval_s, "traces")

    async def flush(self) -> None:
        if self.store is None or not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            await run_sync(self.store.add, batch, self.max_segments)
        except BaseException:
            self._pending[:0] = batch
            raise

    async def segments_in_range(
        self, region: str, start: float, end: float, limit: int
    ) -> list[SegmentRow]:
        """Kept segments that began in [start, end] (what is pending written first)."""
        if self.store is None:
            return []
        await self.flush()
        return await run_sync(self.store.in_range, region, start, end, limit)

    async def segments_of(self, region: str, trace_ids: list[str]) -> list[SegmentRow]:
        if self.store is None or not trace_ids:
            return []
        await self.flush()
        return await run_sync(self.store.of_traces, region, trace_ids)

    def shutdown(self) -> None:
        """Export what is left (blocking: the exporter's last batch)."""
        self.provider.shutdown()
