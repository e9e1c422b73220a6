"""Which invocations are traced, and the spans and segment a traced one leaves."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from lambdad.telemetry.tracing import Tracing
from lambdad.telemetry.xray_ids import parse

ROOT = "1-5759e988-bd862e3fe1be46a994272793"


class Collected(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: object) -> SpanExportResult:
        self.spans += list(spans)  # type: ignore[call-overload]
        return SpanExportResult.SUCCESS


def start(tracing: Tracing, mode: str, header: str) -> object:
    return tracing.start(
        mode,
        header,
        function_name="fn",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
        region="us-east-1",
        request_id="r1",
        started=1000.0,
    )


def test_who_is_traced() -> None:
    tracing = Tracing()
    assert start(tracing, "PassThrough", f"Root={ROOT}") is None
    assert start(tracing, "PassThrough", f"Root={ROOT};Sampled=1") is not None
    assert start(tracing, "Active", f"Root={ROOT};Sampled=0") is None  # the caller's decision
    assert start(tracing, "Active", f"Root={ROOT}") is not None


def test_a_traced_invocation_exports_its_spans_in_the_x_ray_trace() -> None:
    exported = Collected()
    tracing = Tracing(exporter=exported)
    traced = tracing.start(
        "Active",
        f"Root={ROOT};Parent=53995c3f42cd8ad8;Lineage=a1b2c3d4:1",
        function_name="fn",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
        region="us-east-1",
        request_id="r1",
        started=1000.0,
    )
    assert traced is not None
    traced.queued(999.0)
    traced.cold_start(1000.025, {"sandbox": 5.0, "init": 20.0})
    header = parse(traced.invoking())
    document = traced.end("Runtime.ExitError", function_error=True)
    tracing.shutdown()
    names = {s.name: s for s in exported.spans}
    assert set(names) == {"fn", "Queued", "Sandbox", "Init", "Invoke"}
    assert all(f"{s.context.trace_id:032x}" == ROOT[2:].replace("-", "") for s in exported.spans)
    root = names["fn"]
    assert root.parent is not None and f"{root.parent.span_id:016x}" == "53995c3f42cd8ad8"
    assert header.root == ROOT and header.sampled is True
    assert header.parent == f"{names['Invoke'].context.span_id:016x}"
    assert header.others == ("Lineage=a1b2c3d4:1",)
    init = names["Init"]
    assert init.start_time == pytest.approx(1_000_005_000_000, abs=1000)
    assert init.end_time == pytest.approx(1_000_025_000_000, abs=1000)
    assert document["trace_id"] == ROOT and document["error"] is True
    assert [s["name"] for s in document["subsegments"]] == ["Queued", "Sandbox", "Init", "Invoke"]
