"""A secondary's proxy to the primary, and the primary's side of it.

Whatever a secondary does not serve itself (`gate.py`) goes to the primary over
the UNIX socket the primary serves besides its TCP port, as the same HTTP request:
method, path and query as sent (raw), every header as sent (the primary checks
the SigV4 signature on them), the body streamed as it arrives. The response comes
back streamed too (InvokeWithResponseStream, Live Tail, function URL streams), its
headers as the primary sent them. A client that goes away ends the forwarded
request (the primary sees its connection close, as it would have the client's).

Two headers say what the primary cannot see on a UNIX socket: the client's
address (`x-lambdad-forwarded-client`) and which secondary forwarded it
(`x-lambdad-forwarded-by`). `ForwardedClient` trusts them only on that socket and
strips them from every request that arrives on TCP, so no client can claim an
address. The request's one log line is the primary's (it says "via worker N");
the secondary writes none for it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lambdad.api.errors import error_response
from lambdad.workers.gate import ForwardToPrimary

log = logging.getLogger(__name__)

CLIENT_HEADER = b"x-lambdad-forwarded-client"
WORKER_HEADER = b"x-lambdad-forwarded-by"
OUR_HEADERS = frozenset({CLIENT_HEADER, WORKER_HEADER})
# Hop-by-hop: about one connection, never forwarded (RFC 9110 7.6.1); the client
# library frames the forwarded body and uvicorn the response anew.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
        b"te",
        b"trailer",
    }
)
PRIMARY_GONE = "The server's primary process did not answer; try again."


class Forwarder:
    """ASGI app (in a secondary): the request, served by the primary."""

    def __init__(self, socket_path: str, worker: int) -> None:
        self.worker = str(worker).encode()
        self.client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=socket_path),
            timeout=httpx.Timeout(None, connect=30.0),  # invocations last up to 15 min
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, replay: list[Message] | None = None
    ) -> None:
        """Forward one request; `replay`: its first messages, already received."""
        if scope["type"] != "http":
            return
        body_done = anyio.Event()
        request = httpx.Request(
            scope["method"],
            httpx.URL(scheme="http", host="primary", raw_path=_raw_target(scope)),
            headers=self._headers(scope),
            content=_body(replay or [], receive, body_done),
        )
        async with anyio.create_task_group() as group:
            group.start_soon(_end_on_disconnect, receive, body_done, group.cancel_scope)
            try:
                await self._relay(request, send)
            finally:
                group.cancel_scope.cancel()

    def _headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        headers = [
            (bytes(k), bytes(v))
            for k, v in scope["headers"]
            if k.lower() not in HOP_BY_HOP and k.lower() not in OUR_HEADERS
        ]
        client = scope.get("client")
        if client:
            headers.append((CLIENT_HEADER, f"{client[0]}:{client[1]}".encode()))
        headers.append((WORKER_HEADER, self.worker))
        return headers

    async def _relay(self, request: httpx.Request, send: Send) -> None:
        started = False
        try:
            response = await self.client.send(request, stream=True)
            try:
                headers = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": headers,
                    }
                )
                started = True
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            log.warning(
                "worker %s: forwarding to the primary failed: %r", self.worker.decode(), exc
            )
            if started:
                raise  # the response is cut short, as a failed stream is
            await error_response("ServiceException", 500, PRIMARY_GONE)(
                {"type": "http"}, _no_receive, send
            )

    async def aclose(self) -> None:
        await self.client.aclose()


def _raw_target(scope: Scope) -> bytes:
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return bytes(raw) + (b"?" + bytes(query) if query else b"")


async def _body(replay: list[Message], receive: Receive, done: anyio.Event) -> AsyncIterator[bytes]:
    """The request's body: the messages already received, then the rest."""
    more = True
    try:
        for message in replay:
            if message["type"] != "http.request":
                return
            yield message.get("body", b"")
            more = message.get("more_body", False)
            if not more:
                return
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            yield message.get("body", b"")
            more = message.get("more_body", False)
    finally:
        done.set()


async def _end_on_disconnect(
    receive: Receive, body_done: anyio.Event, scope: anyio.CancelScope
) -> None:
    """Once the body is sent, wait for the client to go away, then end the request."""
    await body_done.wait()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class ForwardOnGate:
    """ASGI middleware (in a secondary, in front of the local Invoke path): keeps the
    request's messages as they are received, and when the path raises
    `ForwardToPrimary` (nothing answered yet), forwards the request with them. The
    request log line is then the primary's: `scope["state"]["forwarded"]` says so."""

    def __init__(self, app: ASGIApp, forwarder: Forwarder) -> None:
        self.app = app
        self.forwarder = forwarder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received: list[Message] = []

        async def keeping() -> Message:
            message = await receive()
            received.append(message)
            return message

        try:
            await self.app(scope, keeping, send)
        except ForwardToPrimary:
            scope.setdefault("state", {})["forwarded"] = True
            await self.forwarder(scope, receive, send, received)


async def forward_now(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI app: raises ForwardToPrimary (e.g. for function URL hosts, under `ForwardOnGate`)."""
    raise ForwardToPrimary


class ForwardedClient:
    """ASGI middleware (in the primary): a request on the forwarding UNIX socket gets
    its client address and forwarding worker from the headers; on any other
    socket those headers are removed (see the module doc)."""

    def __init__(self, app: ASGIApp, socket_path: str) -> None:
        self.app = app
        self.socket_path = socket_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if not any(k.lower() in OUR_HEADERS for k, _ in headers):
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        trusted = server is not None and server[0] == self.socket_path and server[1] is None
        kept = []
        for name, value in headers:
            lower = name.lower()
            if lower not in OUR_HEADERS:
                kept.append((name, value))
            elif trusted and lower == CLIENT_HEADER:
                host, _, port = bytes(value).decode("latin-1").rpartition(":")
                scope["client"] = (host, int(port) if port.isdigit() else 0)
            elif trusted:
                scope.setdefault("state", {})["via"] = bytes(value).decode("latin-1")
        scope["headers"] = kept
        await self.app(scope, receive, send)
