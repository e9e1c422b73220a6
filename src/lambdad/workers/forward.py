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
import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lambdad.api.errors import error_response
from lambdad.workers.gate import ForwardToPrimary
from lambdad.workers.primary_link import PrimaryLink, PrimaryLinkError, PrimaryLinks

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
    """ASGI app (in a secondary): the request, served by the primary.

    Full duplex, as one process is (see `primary_link.py`): one task sends the
    body as it is received while the response is read and relayed. When the
    response ends before the body was all sent (an early answer: too large, not
    signed), sending stops and the link is closed; the client's connection is
    closed too when the primary's answer said `connection: close` (what the
    primary does when it refuses a body, so the rest is never read), else its
    unread rest is discarded by this process's server, as the primary's would."""

    def __init__(self, socket_path: str, worker: int) -> None:
        self.worker = str(worker).encode()
        self.links = PrimaryLinks(socket_path)

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, replay: list[Message] | None = None
    ) -> None:
        """Forward one request; `replay`: its first messages, already received."""
        if scope["type"] != "http":
            return
        try:
            link = await self.links.acquire()
        except (OSError, TimeoutError) as exc:
            await self._primary_gone(exc, send)
            return
        keep = False
        try:
            keep = await self._exchange(link, scope, _Body(replay or [], receive), send)
        finally:
            self.links.release(link, keep)

    async def _exchange(self, link: PrimaryLink, scope: Scope, body: _Body, send: Send) -> bool:
        """The request over `link`, its response to `send`; whether `link` may be kept."""
        try:
            await link.send_head(scope["method"].encode(), _raw_target(scope), self._headers(scope))
        except (PrimaryLinkError, h11.LocalProtocolError) as exc:
            await self._primary_gone(exc, send)
            return False
        answered = False
        async with anyio.create_task_group() as group:
            sending = anyio.CancelScope()
            group.start_soon(_send_body, link, body, sending, group.cancel_scope)
            answered = await self._relay(link, send)
            # The primary answered: whatever of the body is unsent is not wanted.
            sending.cancel()
            group.cancel_scope.cancel()  # and the watch for a disconnect ends
        return answered and not body.disconnected

    async def _relay(self, link: PrimaryLink, send: Send) -> bool:
        """The primary's response to the client; whether it was whole."""
        started = False
        try:
            response = await link.receive_response()
            headers = _response_headers(response)
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            started = True
            async for chunk in link.receive_body():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return True
        except PrimaryLinkError as exc:
            if not started:
                await self._primary_gone(exc, send)
                return False
            # Cut short, as a failed stream is: the server ends the client's connection
            # on a response not completed.
            log.warning(
                "worker %s: the primary's response was cut short: %s", self.worker.decode(), exc
            )
            return False

    def _headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        headers = []
        has_host = chunked = False
        for name, value in scope["headers"]:
            lower = name.lower()
            if lower == b"transfer-encoding":
                chunked = True
            elif lower not in HOP_BY_HOP and lower not in OUR_HEADERS:
                headers.append((bytes(name), bytes(value)))
                has_host = has_host or lower == b"host"
        if chunked:  # framed anew: chunked, whatever length a client claimed beside it
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"transfer-encoding", b"chunked"))
        if not has_host:  # HTTP/1.0 sends none; HTTP/1.1 requires one
            headers.append((b"host", b"primary"))
        client = scope.get("client")
        if client:
            headers.append((CLIENT_HEADER, f"{client[0]}:{client[1]}".encode()))
        headers.append((WORKER_HEADER, self.worker))
        return headers

    async def _primary_gone(self, exc: BaseException, send: Send) -> None:
        log.warning("worker %s: forwarding to the primary failed: %r", self.worker.decode(), exc)
        await error_response("ServiceException", 500, PRIMARY_GONE)(
            {"type": "http"}, _no_receive, send
        )

    async def aclose(self) -> None:
        self.links.close()


def _response_headers(response: h11.Response) -> list[tuple[bytes, bytes]]:
    """The primary's headers less hop-by-hop ones; `connection: close` kept, so this
    process closes the client's connection as the primary would have."""
    headers = []
    closing = False
    for name, value in response.headers:  # lower-cased by h11
        if name == b"connection":
            closing = closing or b"close" in [t.strip() for t in value.lower().split(b",")]
        elif name not in HOP_BY_HOP:
            headers.append((bytes(name), bytes(value)))
    if closing:
        headers.append((b"connection", b"close"))
    return headers


def _raw_target(scope: Scope) -> bytes:
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return bytes(raw) + (b"?" + bytes(query) if query else b"")


class _Body:
    """The request's body: the messages already received (`replay`), then the rest."""

    def __init__(self, replay: list[Message], receive: Receive) -> None:
        self.replay = replay
        self.receive = receive
        self.disconnected = False
        """The client went away."""

    async def chunks(self) -> AsyncIterator[bytes]:
        """Ends with the body, or early if the client goes away (`disconnected`)."""
        more = True
        for message in self.replay:
            if message["type"] != "http.request":
                self.disconnected = True
                return
            yield message.get("body", b"")
            more = message.get("more_body", False)
            if not more:
                return
        while more:
            message = await self.receive()
            if message["type"] != "http.request":
                self.disconnected = True
                return
            yield message.get("body", b"")
            more = message.get("more_body", False)

    async def until_disconnect(self) -> None:
        """Once the body is read: back when the client goes away."""
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self.disconnected = True


async def _send_body(
    link: PrimaryLink, body: _Body, sending: anyio.CancelScope, exchange: anyio.CancelScope
) -> None:
    """Send the body to the primary as it arrives, then watch for the client going away;
    a client that goes away ends the exchange (the primary sees its link close)."""
    with sending:
        try:
            async for chunk in body.chunks():
                await link.send_body(chunk)
            if not body.disconnected:
                await link.end_body()
        except PrimaryLinkError:
            return  # the primary stopped reading: its answer (or its end) says why
        except h11.LocalProtocolError as exc:  # a body unlike its framing: never from uvicorn
            log.error("forwarding a request body failed: %s", exc)
            exchange.cancel()
            return
    if sending.cancel_called:
        return
    if not body.disconnected:
        await body.until_disconnect()
    exchange.cancel()


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
