"""StartLiveTail's updates: the filter pattern, AWS's 500-event sampling, and messages
botocore's event-stream parser reads."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from botocore.eventstream import EventStreamBuffer

from lambdad.api import logs_live_tail as live_tail_api
from lambdad.api.eventstream import json_message
from lambdad.api.logs_live_tail import (
    LiveTailResponse,
    StartLiveTailRequest,
    _Session,
)
from lambdad.telemetry.events import EventBlock
from lambdad.telemetry.filter_pattern import parse
from lambdad.telemetry.live_tail import (
    LiveTail,
    LiveTailLimitExceeded,
    StreamFilter,
    TailBlock,
)
from lambdad.telemetry.log_groups import LogGroups


def _response(pattern: str | None) -> LiveTailResponse:
    request = StartLiveTailRequest(["/g"], log_event_filter_pattern=pattern)
    session = _Session("req", "sess", "r", {"/g": "arn:g"}, StreamFilter(), request, parse(pattern))
    tail = LiveTail()
    return LiveTailResponse(tail, session, tail.open("r", ["/g"], StreamFilter()))


def _blocks(*messages: bytes) -> list[TailBlock]:
    return [TailBlock("/g", "s", 2000, EventBlock(1000, len(messages), b"\n".join(messages)))]


def test_an_update_holds_the_matching_events() -> None:
    update = _response("ERROR")._update(_blocks(b"ERROR one", b"INFO two", b"[ERROR] three"), 0)
    assert update["sessionMetadata"] == {"sampled": False}
    assert update["sessionResults"] == [
        {
            "logStreamName": "s",
            "logGroupIdentifier": "arn:g",
            "message": message,
            "timestamp": 1000,
            "ingestionTime": 2000,
        }
        for message in ("ERROR one", "[ERROR] three")
    ]


def test_more_than_500_events_or_dropped_ones_make_a_sampled_update() -> None:
    many = _response(None)._update(_blocks(*[f"line {i}".encode() for i in range(700)]), 0)
    assert many["sessionMetadata"] == {"sampled": True}
    messages = [result["message"] for result in many["sessionResults"]]  # type: ignore[attr-defined]
    assert len(messages) == 500
    assert messages == sorted(messages, key=lambda m: int(m.split()[1]))  # kept in order
    dropped = _response(None)._update(_blocks(b"one"), 3)
    assert dropped["sessionMetadata"] == {"sampled": True}


def test_botocore_reads_the_exception_event() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(json_message("SessionTimeoutException", {"message": "over"}, "exception"))
    (message,) = list(buffer)
    assert message.headers[":message-type"] == "exception"
    assert message.headers[":exception-type"] == "SessionTimeoutException"
    assert json.loads(message.payload) == {"message": "over"}


@pytest.mark.anyio
async def test_a_session_times_out_with_aws_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_tail_api, "SESSION_S", 0.0)
    monkeypatch.setattr(live_tail_api, "UPDATE_EVERY_S", 0.0)
    response = _response(None)
    sent: list[MutableMapping[str, Any]] = []
    disconnected = anyio.Event()

    async def receive() -> dict[str, Any]:
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    with anyio.fail_after(30):
        await response({"type": "http"}, receive, send)
    assert sent[0]["status"] == 200
    buffer = EventStreamBuffer()
    for message in sent[1:]:
        buffer.add_data(message["body"])
    kinds = [
        message.headers.get(":event-type") or message.headers[":exception-type"]
        for message in buffer
    ]
    assert kinds == ["initial-response", "sessionStart", "SessionTimeoutException"]
    assert sent[-1]["more_body"] is False
    assert response.live_tail.open_sessions == 0


class _Logs:
    """What StartLiveTail's handler asks of the logs service: every group exists."""

    def __init__(self, live_tail: LiveTail) -> None:
        self.live_tail = live_tail

    async def flush(self) -> None:
        await anyio.sleep(0)  # a real flush awaits: concurrent starts interleave here

    def group_exists(self, group: str) -> bool:
        return True


def _every_group_exists(self: Any, logs: _Logs) -> None:
    self.queries = logs


@pytest.mark.anyio
async def test_concurrent_starts_never_pass_the_session_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tail = LiveTail(max_sessions=3)
    monkeypatch.setattr(LogGroups, "__init__", _every_group_exists)
    ctx: Any = SimpleNamespace(logs=_Logs(tail), region="r")
    body = json.dumps({"logGroupIdentifiers": ["/g"]}).encode()
    started: list[LiveTailResponse] = []
    refused: list[LiveTailLimitExceeded] = []

    async def start() -> None:
        try:
            started.append(await live_tail_api.start_live_tail(ctx, body))
        except LiveTailLimitExceeded as exc:
            refused.append(exc)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(start)
    # Each start that was answered has its place: the refused ones got AWS's error.
    assert (len(started), len(refused), tail.open_sessions) == (3, 5, 3)
    assert refused[0].code == "LimitExceededException"
    tail.close(started[0].subscription)
    assert tail.open_sessions == 2
