"""Traces end to end: X-Amzn-Trace-Id propagated into the function (sync, async and
through a destination), Active tracing exported over OTLP/HTTP to a receiver in
this test (decoded with opentelemetry-proto), and read back with boto3's xray
client."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from support.invoke import allow_public
from support.lambda_calls import function_arn, new_function
from support.server import LambdadServer, boto3_client
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = pytest.mark.compat

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
HEADER = f"Root={ROOT};Parent={PARENT};Sampled=1"
SOURCE = """
import os

def handler(event, context):
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}
"""


class Receiver:
    """An OTLP/HTTP trace receiver on loopback: every span it was sent."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        lock = threading.Lock()
        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with lock:
                    for resource_spans in request.resource_spans:
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                spans.append(
                                    {
                                        "trace_id": span.trace_id.hex(),
                                        "span_id": span.span_id.hex(),
                                        "parent": span.parent_span_id.hex(),
                                        "name": span.name,
                                        "path": self.path,
                                    }
                                )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def of_trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [s for s in list(self.spans) if s["trace_id"] == trace_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    receiver = Receiver()
    data = tmp_path_factory.mktemp("traces") / "data"
    server = LambdadServer(
        Path(data),
        args=["--otlp-endpoint", receiver.url],
        env={"OTEL_BSP_SCHEDULE_DELAY": "100"},  # export in 0.1 s batches, not 5 s
    )
    try:
        with server:
            lam = boto3_client(server.url)
            code = make_zip({"app.py": SOURCE})
            active = new_function(lam, "active", code=code, TracingConfig={"Mode": "Active"})
            yield {
                "server": server,
                "lam": lam,
                "receiver": receiver,
                "active": active,
                "code": code,
            }
    finally:
        receiver.close()


def with_header(lam: Any, header: str) -> Any:
    """Send `header` as X-Amzn-Trace-Id on this client's invokes."""

    def add(params: dict[str, Any], **_: Any) -> None:
        params["headers"]["X-Amzn-Trace-Id"] = header

    lam.meta.events.register("before-call.lambda.Invoke", add)
    return add


def fields(header: str) -> dict[str, str]:
    return dict(f.split("=", 1) for f in header.split(";"))


def test_a_sync_invoke_runs_in_the_callers_trace_and_is_exported(traced: dict[str, Any]) -> None:
    lam, receiver = traced["lam"], traced["receiver"]
    hook = with_header(lam, HEADER)
    try:
        answer = json.loads(lam.invoke(FunctionName=traced["active"])["Payload"].read())
    finally:
        lam.meta.events.unregister("before-call.lambda.Invoke", hook)
    seen = fields(answer["trace"])
    assert seen["Root"] == ROOT and seen["Sampled"] == "1"
    otel_id = ROOT[2:].replace("-", "")  # AWS's X-Ray -> W3C mapping
    spans = wait_until(
        lambda: (
            (found := receiver.of_trace(otel_id))
            and {"Invoke", traced["active"]} <= {s["name"] for s in found}
            and len(found) >= 3
            and found
        ),
        "the invocation's spans at the OTLP receiver",
    )
    by_name = {s["name"]: s for s in spans}
    assert {"Invoke", traced["active"]} <= set(by_name)
    root = by_name[traced["active"]]
    assert root["parent"] == PARENT
    # A cold start: its phases (a sandbox started, or a ready one adopted) before Invoke.
    cold = set(by_name) - {"Invoke", traced["active"]}
    assert "Init" in " ".join(cold), cold
    assert all(by_name[n]["parent"] == root["span_id"] for n in cold | {"Invoke"})
    # The function's Parent is its Invoke span: what it calls joins the trace there.
    assert seen["Parent"] == by_name["Invoke"]["span_id"]
    assert all(s["path"] == "/v1/traces" for s in spans)


def test_an_untraced_function_gets_a_header_in_aws_format(traced: dict[str, Any]) -> None:
    lam = traced["lam"]
    plain = new_function(lam, "plain", code=traced["code"])
    answer = json.loads(lam.invoke(FunctionName=plain)["Payload"].read())
    seen = fields(answer["trace"])
    assert seen["Root"].startswith("1-") and len(seen["Root"]) == 35
    assert len(seen["Parent"]) == 16 and seen["Sampled"] == "0"


def test_a_function_url_takes_the_callers_trace(traced: dict[str, Any]) -> None:
    lam = traced["lam"]
    name = new_function(lam, "url", code=traced["code"])
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    allow_public(lam, name)
    url_id = url.split("//", 1)[1].split(".", 1)[0]
    response = httpx.get(
        f"{traced['server'].url}/lambda-url/{url_id}/",
        headers={"X-Amzn-Trace-Id": f"Root={ROOT};Parent={PARENT};Sampled=0"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    seen = fields(response.json()["trace"])
    assert (seen["Root"], seen["Parent"], seen["Sampled"]) == (ROOT, PARENT, "0")


def test_async_and_destination_keep_the_trace_and_xray_reads_it(traced: dict[str, Any]) -> None:
    lam, receiver = traced["lam"], traced["receiver"]
    source = new_function(lam, "source", code=traced["code"], TracingConfig={"Mode": "Active"})
    target = new_function(lam, "target", code=traced["code"], TracingConfig={"Mode": "Active"})
    lam.put_function_event_invoke_config(
        FunctionName=source,
        DestinationConfig={"OnSuccess": {"Destination": function_arn(target)}},
    )
    root = "1-5759e988-00000000000000000000abcd"
    hook = with_header(lam, f"Root={root};Parent={PARENT};Sampled=1")
    try:
        assert lam.invoke(FunctionName=source, InvocationType="Event")["StatusCode"] == 202
    finally:
        lam.meta.events.unregister("before-call.lambda.Invoke", hook)
    otel_id = root[2:].replace("-", "")
    spans = wait_until(
        lambda: (
            (found := receiver.of_trace(otel_id))
            and {source, target} <= {s["name"] for s in found}
            and found
        ),
        "spans of the source and its destination in one trace",
    )
    assert sum(1 for s in spans if s["name"] == "Queued") == 2

    xray = boto3_client(traced["server"].url, service="xray")
    now = datetime.now(UTC)
    summaries = xray.get_trace_summaries(
        StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1)
    )["TraceSummaries"]
    summary = next(s for s in summaries if s["Id"] == root)
    assert {s["Name"] for s in summary["ServiceIds"]} == {source, target}
    assert summary["EntryPoint"]["Name"] == source and not summary["HasError"]
    only = xray.get_trace_summaries(
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),
        FilterExpression=f'service("{target}")',
    )["TraceSummaries"]
    assert [s["Id"] for s in only] == [root]
    got = xray.batch_get_traces(TraceIds=[root, "1-5759e988-ffffffffffffffffffffffff"])
    assert got["UnprocessedTraceIds"] == ["1-5759e988-ffffffffffffffffffffffff"]
    (trace,) = got["Traces"]
    documents = [json.loads(s["Document"]) for s in trace["Segments"]]
    assert [d["name"] for d in documents] == [source, target]
    assert all(d["trace_id"] == root for d in documents)
    assert {s["name"] for s in documents[0]["subsegments"]} >= {"Queued", "Invoke"}
    assert documents[0]["parent_id"] == PARENT
