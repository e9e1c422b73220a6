"""InvokeWithResponseStream: an invocation whose response reaches the caller as it comes.

POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations. Bad
input, an unknown function and a throttle are AWS's errors, as for Invoke;
once the function runs the answer is 200 with an event stream
(`api/eventstream.py`): a PayloadChunk for every piece the function writes,
then one InvokeComplete (ErrorCode / ErrorDetails when the function failed,
mid-stream too; LogResult with LogType Tail). A function that does not stream
(a buffered response) arrives as PayloadChunks of its whole response, as on AWS.
"""

from __future__ import annotations

import base64
import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lambdad.api.bodies import read_body
from lambdad.api.context import ApiContext
from lambdad.api.disconnects import cancelled_on_disconnect
from lambdad.api.errors import lambdad_error_response
from lambdad.api.eventstream import invoke_complete, payload_chunks
from lambdad.api.params import enum_value
from lambdad.invoke import (
    MAX_SYNC_PAYLOAD,
    Failed,
    Finished,
    InvokeResult,
    ResponseStream,
    Run,
    Started,
    check_client_context,
    check_payload,
    new_trace_root,
    streamed_invocation,
)

INVOCATION_TYPES = ("RequestResponse", "DryRun")
LOG_TYPES = ("None", "Tail")
BUFFERED_CONTENT_TYPE = "application/json"


async def invoke_with_response_stream(request: Request) -> Response:
    ctx = ApiContext.of(request)
    headers = request.headers
    invocation_type = enum_value(
        headers.get("x-amz-invocation-type", "RequestResponse"), "invocationType", INVOCATION_TYPES
    )
    log_type = enum_value(headers.get("x-amz-log-type", "None"), "logType", LOG_TYPES)
    client_context = check_client_context(headers.get("x-amz-client-context"))
    body = await read_body(request, MAX_SYNC_PAYLOAD, "InvokeWithResponseStream", raw=True)
    payload = check_payload(body, MAX_SYNC_PAYLOAD)
    ref = ctx.resolve(request)
    target = await ctx.invoker.resolve(ref.name, ref.qualifier)
    executed = target.version.version
    if invocation_type == "DryRun":
        return Response(status_code=204, headers={"X-Amz-Executed-Version": executed})
    trace_id = headers.get("x-amzn-trace-id") or new_trace_root()
    request_id = getattr(request.state, "request_id", None)

    async def run(stream: ResponseStream) -> InvokeResult:
        return await ctx.invoker.invoke(
            target,
            payload,
            client_context=client_context,
            want_log_tail=log_type == "Tail",
            trace_id=trace_id,
            request_id=request_id,
            response=stream,
        )

    return EventStreamResponse(run, executed)


class EventStreamResponse(Response):
    """Runs the invocation while it answers (see the module doc)."""

    def __init__(self, run: Run, executed_version: str) -> None:
        self.run = run
        self.executed_version = executed_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with cancelled_on_disconnect(receive), streamed_invocation(self.run) as events:
            event = await events.receive()
            if isinstance(event, Failed):  # nothing ran: AWS's error, as Invoke answers it
                await lambdad_error_response(event.error)(scope, receive, send)
                return
            content_type = (
                event.content_type if isinstance(event, Started) else BUFFERED_CONTENT_TYPE
            )
            headers = [
                (b"content-type", content_type.encode("latin-1", "replace")),
                (b"x-amz-executed-version", self.executed_version.encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            while True:
                if isinstance(event, bytes):
                    for message in payload_chunks(event):
                        await _body(send, message)
                elif isinstance(event, Finished):
                    await _body(send, _completion(event.result), more=False)
                    return
                elif isinstance(event, Failed):
                    # Refused after the stream began (the pool, say): the stream says so.
                    error = event.error
                    await _body(send, invoke_complete(error.code, error.message, None), more=False)
                    return
                event = await events.receive()


def _completion(result: InvokeResult) -> bytes:
    """What follows the function's bytes: a buffered response's payload, then InvokeComplete."""
    parts: list[bytes] = []
    log_result = base64.b64encode(result.log_tail).decode() if result.log_tail is not None else None
    if result.function_error:
        code, details = _error_of(result.payload)
        return invoke_complete(code, details, log_result)
    if not result.streamed:
        parts += payload_chunks(result.payload)
    parts.append(invoke_complete(None, None, log_result))
    return b"".join(parts)


def _error_of(payload: bytes) -> tuple[str, str]:
    """(ErrorCode, ErrorDetails) of a failed invocation's error JSON."""
    try:
        error = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        error = None
    if not isinstance(error, dict):
        return "Unhandled", payload.decode("utf-8", "replace")
    code = error.get("errorType")
    details = error.get("errorMessage")
    return (
        code if isinstance(code, str) and code else "Unhandled",
        details if isinstance(details, str) else json.dumps(error),
    )


async def _body(send: Send, data: bytes, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})
