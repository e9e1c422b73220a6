"""The forwarding headers: trusted on the primary's UNIX socket only; a request the
local path hands back is replayed whole, and logged by the primary only."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from lambdad.workers.forward import CLIENT_HEADER, WORKER_HEADER, ForwardedClient, ForwardOnGate
from lambdad.workers.gate import ForwardToPrimary

pytestmark = pytest.mark.anyio

SOCKET = "/tmp/lambdad-workers-x/forward.sock"


class Seen:
    def __init__(self) -> None:
        self.scope: Scope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope


def http(server: Any, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "server": server, "client": None, "headers": headers, "state": {}}


async def nothing() -> Message:
    return {"type": "http.disconnect"}


async def ignore(_message: Message) -> None:
    return None


async def test_a_forwarded_request_gets_its_client_and_worker_on_the_socket() -> None:
    seen = Seen()
    headers = [(b"host", b"127.0.0.1:9000"), (CLIENT_HEADER, b"10.1.2.3:5555")]
    await ForwardedClient(seen, SOCKET)(
        http((SOCKET, None), [*headers, (WORKER_HEADER, b"1")]), nothing, ignore
    )
    assert seen.scope is not None
    assert seen.scope["client"] == ("10.1.2.3", 5555)
    assert seen.scope["state"]["via"] == "1"
    assert seen.scope["headers"] == [(b"host", b"127.0.0.1:9000")]


async def test_on_tcp_the_forwarding_headers_are_removed_and_never_believed() -> None:
    seen = Seen()
    scope = http(("127.0.0.1", 9000), [(b"host", b"x"), (CLIENT_HEADER, b"10.1.2.3:5555")])
    scope["client"] = ("127.0.0.1", 40000)
    await ForwardedClient(seen, SOCKET)(scope, nothing, ignore)
    assert seen.scope is not None
    assert seen.scope["client"] == ("127.0.0.1", 40000)
    assert "via" not in seen.scope["state"]
    assert seen.scope["headers"] == [(b"host", b"x")]


async def test_a_request_the_local_path_hands_back_is_forwarded_with_what_it_read() -> None:
    body = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    ]

    async def receive() -> Message:
        return body.pop(0)

    async def local(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # e.g. authentication read the first chunk, then the gate said no
        raise ForwardToPrimary

    forwarded: list[Any] = []

    async def forwarder(scope: Scope, receive: Receive, send: Send, replay: Any) -> None:
        forwarded.append((list(replay), await receive()))

    scope = http(("127.0.0.1", 9000), [])
    await ForwardOnGate(local, forwarder)(scope, receive, ignore)  # type: ignore[arg-type]
    assert forwarded == [
        (
            [{"type": "http.request", "body": b"ab", "more_body": True}],
            {"type": "http.request", "body": b"cd", "more_body": False},
        )
    ]
    assert scope["state"]["forwarded"] is True  # the request log line is the primary's
