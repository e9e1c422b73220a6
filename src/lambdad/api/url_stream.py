"""Function URLs with InvokeMode RESPONSE_STREAM: the response as the function writes it.

The function's stream is the HTTP response, as AWS's streaming URLs answer:

- a stream of type `application/vnd.awslambda.http-integration-response`
  (what `awslambda.HttpResponseStream.from` writes) opens with a JSON prelude,
  `{"statusCode", "headers", "cookies"}`, then 8 NUL bytes, then the body; the
  prelude must end within its first 16 KB;
- any other stream is a 200 with the stream's Content-Type and its bytes;
- a function that does not stream answers with its whole response, as is.

Nothing is sent before the first byte of the body (or the stream's end), so a
function that fails (or a prelude that is unusable) before its body begins is
a 502 like a buffered URL's; a throttle is 429. A stream that fails after its body began is cut
off: the connection ends without the chunked body's last chunk, so the
client sees an incomplete response rather than a complete wrong one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from anyio.streams.memory import MemoryObjectReceiveStream
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lambdad.api.disconnects import cancelled_on_disconnect
from lambdad.api.url_payload import BadFunctionResponse, url_prelude
from lambdad.errors import LambdadError
from lambdad.invoke import Failed, Finished, Run, Started, StreamEvent, streamed_invocation

log = logging.getLogger(__name__)

PRELUDE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
DELIMITER = b"\0" * 8
MAX_PRELUDE = 16 * 1024
Headers = list[tuple[str, str]]


class StreamedUrlResponse(Response):
    """Runs the URL's invocation while it answers (see the module doc).

    `refused(error)` is the answer when the invocation never ran (or failed
    before its first byte: `None`); `decorate(headers)` adds what the URL's
    configuration adds (CORS) to the function's headers."""

    def __init__(
        self,
        url_id: str,
        run: Run,
        refused: Callable[[LambdadError | None], Response],
        decorate: Callable[[Headers], Headers],
    ) -> None:
        self.url_id = url_id
        self.run = run
        self.refused = refused
        self.decorate = decorate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with cancelled_on_disconnect(receive), streamed_invocation(self.run) as events:
            head = await self._head(events)
            if isinstance(head, Response):
                await head(scope, receive, send)
                return
            status, headers, body, event = head
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.decorate(headers)]
            await send({"type": "http.response.start", "status": status, "headers": raw})
            if body:
                await _body(send, body)
            while not isinstance(event, Finished | Failed):
                event = await events.receive()
                if isinstance(event, bytes):
                    await _body(send, event)
            if isinstance(event, Failed) or event.result.function_error:
                log.info("function URL %s: the stream failed after its body began", self.url_id)
                return  # no last chunk: the client sees the response cut short
            await _body(send, b"", more=False)

    async def _head(
        self, events: MemoryObjectReceiveStream[StreamEvent]
    ) -> Response | tuple[int, Headers, bytes, StreamEvent]:
        """The status, headers and first body bytes (with the last event read), or
        the whole answer when it is known before any of the body."""
        event = await events.receive()
        if isinstance(event, Failed):
            return self.refused(event.error)
        if isinstance(event, Finished):
            result = event.result
            if result.function_error:
                return self.refused(None)
            # Not streamed: the whole response, as is (RESPONSE_STREAM never maps it).
            return 200, [("content-type", "application/json")], result.payload, event
        assert isinstance(event, Started)
        content_type = event.content_type
        with_prelude = content_type.split(";")[0].strip().lower() == PRELUDE_CONTENT_TYPE
        data = b""
        # Read up to the first byte of the body: past the prelude when there is one.
        while (DELIMITER not in data) if with_prelude else not data:
            if len(data) > MAX_PRELUDE + len(DELIMITER):
                log.info("function URL %s: no prelude delimiter in 16 KB", self.url_id)
                return self.refused(None)
            event = await events.receive()
            if isinstance(event, Failed):
                return self.refused(event.error)
            if isinstance(event, Finished) and not event.result.function_error:
                if not with_prelude:
                    return 200, [("content-type", content_type)], b"", event
                break  # the prelude alone
            if not isinstance(event, bytes):  # failed before its body began
                return self.refused(None)
            data += event
        if not with_prelude:
            return 200, [("content-type", content_type)], data, event
        prelude, _, body = data.partition(DELIMITER)
        try:
            status, headers = url_prelude(prelude)
        except BadFunctionResponse as exc:
            log.info("function URL %s: the response prelude is unusable: %s", self.url_id, exc)
            return self.refused(None)
        return status, headers, body, event


async def _body(send: Send, data: bytes, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})
