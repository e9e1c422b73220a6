"""BodyGuard without a server: code uploads are read a few at a time."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from starlette.requests import Request
from starlette.responses import Response

from lambdad.api.bodies import CODE_UPLOAD_LIMIT, CONFIGURATION_LIMIT, BodyGuard, read_body
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio


def scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/2015-03-31/functions",
        "headers": [(b"content-type", b"application/json")],
    }


async def test_code_uploads_are_read_a_few_at_a_time() -> None:
    reading = finished = peak = 0
    release = anyio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal reading, peak, finished
        await read_body(Request(scope, receive), CODE_UPLOAD_LIMIT, "CreateFunction")
        reading += 1
        peak = max(peak, reading)
        await release.wait()
        reading -= 1
        await Response(status_code=204)(scope, receive, send)
        finished += 1

    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(_message: Any) -> None:
        pass

    guard = BodyGuard(app, concurrent_uploads=2)
    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(guard, scope(), receive, send)
        await wait_until_async(lambda: reading == 2, "two uploads to be read")
        assert received == 2, "a waiting upload's body is not read"
        release.set()
    assert (peak, finished, received) == (2, 5, 5)


async def test_small_bodies_do_not_wait_for_uploads() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await read_body(Request(scope, receive), CONFIGURATION_LIMIT, "TagResource")
        await Response(status_code=204)(scope, receive, send)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    guard = BodyGuard(app, concurrent_uploads=0)  # no upload could ever be read
    with anyio.fail_after(5):
        await guard(scope(), receive, send)
    assert sent[0]["status"] == 204


@pytest.mark.parametrize(
    ("headers", "chunks", "raw", "outcome"),
    [
        # A JSON body must say so, declared or chunked; an empty one needs no type.
        ([(b"content-length", b"2")], [b"{}"], False, "UnsupportedMediaType"),
        ([], [b"", b"{}"], False, "UnsupportedMediaType"),
        ([], [b""], False, b""),
        ([(b"content-type", b"application/json")], [b"", b"{}"], False, b"{}"),
        ([(b"content-type", b"text/plain"), (b"content-length", b"0")], [b""], False, "Unsup"),
        # A raw payload may have any type but a browser form's.
        ([(b"content-length", b"2")], [b"{}"], True, b"{}"),
        ([], [b"{", b"}"], True, b"{}"),
        ([(b"content-type", b"text/plain")], [b"", b"{}"], True, "UnsupportedMediaType"),
        ([(b"content-type", b"application/json"), (b"content-length", b"3")], [b"{}x"], False,
         "RequestTooLarge"),
    ],
)  # fmt: skip
async def test_a_body_s_type_and_size_are_held_to_its_rules(
    headers: list[tuple[bytes, bytes]], chunks: list[bytes], raw: bool, outcome: object
) -> None:
    read: list[object] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            read.append(await read_body(Request(scope, receive), 2, "Invoke", raw=raw))
        except Exception as exc:
            read.append(type(exc).__name__)
        await Response(status_code=204)(scope, receive, send)

    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(_message: Any) -> None:
        pass

    with anyio.fail_after(5):
        await BodyGuard(app)({**scope(), "headers": headers}, receive, send)
    found = read[0]
    if isinstance(outcome, str):
        assert isinstance(found, str) and found.startswith(outcome)
    else:
        assert found == outcome
