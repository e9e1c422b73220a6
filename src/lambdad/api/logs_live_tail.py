"""CloudWatch Logs' StartLiveTail: new log events of up to 10 groups, streamed as AWS does.

The answer is an `application/vnd.amazon.eventstream` (`api/eventstream.py`):
botocore's JSON protocol first reads an `initial-response` event (the
response's other members: none), then the `StartLiveTailResponseStream`
events: one `sessionStart`, a `sessionUpdate` every second (an empty one when
nothing came; at most 500 events, sampled beyond that or when the client fell
behind, `sessionMetadata.sampled` saying so), and `SessionTimeoutException`
after three hours. The session ends when its client goes away.

The operation carries a host prefix (`stream-`) that botocore puts before the
endpoint's host: against a server at an IP address, a client turns that off
(`Config(inject_host_prefix=False)`, or `AWS_DISABLE_HOST_PREFIX_INJECTION=true`).
The server itself answers whatever the Host.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import msgspec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lambdad.api import logs
from lambdad.api.context import ApiContext
from lambdad.api.disconnects import cancelled_on_disconnect
from lambdad.api.eventstream import json_message
from lambdad.api.shapes import decode_body
from lambdad.concurrency import run_sync
from lambdad.telemetry.filter_pattern import FilterPattern, parse
from lambdad.telemetry.live_tail import LiveTail, StreamFilter, Subscription, TailBlock
from lambdad.telemetry.log_errors import InvalidParameter, LogResourceNotFound
from lambdad.telemetry.log_groups import LogGroups

log = logging.getLogger(__name__)

MAX_GROUPS = 10
MAX_STREAMS = 100
UPDATE_EVERY_S = 1.0
MAX_UPDATE_EVENTS = 500
SESSION_S = 3 * 3600.0
EVENT_STREAM = b"application/vnd.amazon.eventstream"


class StartLiveTailRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    log_group_identifiers: list[str] | None = None
    log_stream_names: list[str] | None = None
    log_stream_name_prefixes: list[str] | None = None
    log_event_filter_pattern: str | None = None


@dataclass(frozen=True)
class _Session:
    request_id: str
    session_id: str
    region: str
    identifiers: dict[str, str]
    """Each tailed group's name -> the identifier the caller named it by."""
    streams: StreamFilter
    request: StartLiveTailRequest
    pattern: FilterPattern


def _group(identifier: str) -> str:
    if identifier.endswith("*"):
        raise InvalidParameter("logGroupIdentifiers can't end with an asterisk (*).")
    return LogGroups.group_name(None, identifier)


def _checked(request: StartLiveTailRequest) -> tuple[list[str], StreamFilter]:
    identifiers = request.log_group_identifiers
    if not identifiers or len(identifiers) > MAX_GROUPS:
        raise InvalidParameter(f"logGroupIdentifiers must name 1 to {MAX_GROUPS} log groups.")
    names, prefixes = request.log_stream_names, request.log_stream_name_prefixes
    if names is not None and prefixes is not None:
        raise InvalidParameter("logStreamNames and logStreamNamePrefixes are mutually exclusive.")
    chosen = names if names is not None else prefixes
    if chosen is not None:
        if len(identifiers) != 1:
            raise InvalidParameter(
                "logStreamNames and logStreamNamePrefixes need exactly one log group."
            )
        if not chosen or len(chosen) > MAX_STREAMS or not all(chosen):
            raise InvalidParameter(f"Name 1 to {MAX_STREAMS} log streams (or prefixes).")
    streams = StreamFilter(frozenset(names or ()), tuple(prefixes or ()))
    return identifiers, streams


async def start_live_tail(ctx: ApiContext, body: bytes) -> LiveTailResponse:
    request = decode_body(body, StartLiveTailRequest)
    identifiers, streams = _checked(request)
    groups = {_group(identifier): identifier for identifier in identifiers}
    pattern = parse(request.log_event_filter_pattern)
    await ctx.logs.flush()  # a function's group exists once its first events are stored
    queries = LogGroups(ctx.logs).queries
    for group in groups:
        if not await run_sync(queries.group_exists, group):
            raise LogResourceNotFound(f"The specified log group does not exist: {group}")
    session = _Session(
        str(uuid.uuid4()), str(uuid.uuid4()), ctx.region, groups, streams, request, pattern
    )
    # The session's place is taken here, where the cap can still be answered with AWS's
    # LimitExceededException; the response owns it from now on and gives it back.
    subscription = ctx.logs.live_tail.open(session.region, list(groups), streams)
    return LiveTailResponse(ctx.logs.live_tail, session, subscription)


def resources(ctx: ApiContext, operation: str, body: bytes) -> Sequence[str]:
    """The log group ARNs StartLiveTail tails (logs.resources' for the other operations)."""
    if operation != "StartLiveTail":
        return logs.resources(ctx, operation, body)
    try:
        request = msgspec.json.decode(body or b"{}", type=StartLiveTailRequest)
        groups = [_group(identifier) for identifier in request.log_group_identifiers or ()]
    except (msgspec.DecodeError, msgspec.ValidationError, InvalidParameter):
        groups = []
    # A request that names no valid group needs the action on every group; its handler refuses it.
    return [logs.group_arn(ctx, group) for group in groups] or [logs.group_arn(ctx, "*", False)]


class LiveTailResponse(Response):
    """The ASGI response that streams one session until it times out or its client leaves."""

    def __init__(self, live_tail: LiveTail, session: _Session, subscription: Subscription) -> None:
        self.live_tail = live_tail
        self.session = session
        self.subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = self.session
        try:
            # The request's body was read: what `receive` says next is the disconnect.
            async with cancelled_on_disconnect(receive):
                log.info("logs: live tail session %s started", session.session_id)
                headers = [
                    (b"content-type", EVENT_STREAM),
                    (b"x-amzn-requestid", session.request_id.encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await _send(send, json_message("initial-response", {}))
                await _send(send, json_message("sessionStart", _session_start(session)))
                await self._updates(send, self.subscription)
        finally:
            self.live_tail.close(self.subscription)
            log.info("logs: live tail session %s ended", session.session_id)

    async def _updates(self, send: Send, subscription: Subscription) -> None:
        deadline = anyio.current_time() + SESSION_S
        while True:
            await anyio.sleep(UPDATE_EVERY_S)  # AWS's cadence: an update a second
            if self.live_tail.stopping:
                message = {"message": "The server is shutting down."}
                await _send(
                    send, json_message("SessionStreamingException", message, "exception"), False
                )
                return
            if anyio.current_time() >= deadline:
                message = {"message": "Session timed out after 3 hours."}
                await _send(
                    send, json_message("SessionTimeoutException", message, "exception"), more=False
                )
                return
            blocks, dropped = subscription.take()
            await _send(send, json_message("sessionUpdate", self._update(blocks, dropped)))

    def _update(self, blocks: list[TailBlock], dropped: int) -> dict[str, object]:
        session = self.session
        results = [
            {
                "logStreamName": item.stream,
                "logGroupIdentifier": session.identifiers[item.group],
                "message": message,
                "timestamp": item.block.timestamp_ms,
                "ingestionTime": item.ingestion_ms,
            }
            for item in blocks
            for message in item.block.messages.decode("utf-8", "replace").split("\n")
            if session.pattern.matches(message)
        ]
        sampled = dropped > 0 or len(results) > MAX_UPDATE_EVENTS
        if len(results) > MAX_UPDATE_EVENTS:
            keep = sorted(random.sample(range(len(results)), MAX_UPDATE_EVENTS))
            results = [results[index] for index in keep]
        return {"sessionMetadata": {"sampled": sampled}, "sessionResults": results}


def _session_start(session: _Session) -> dict[str, object]:
    request = session.request
    start: dict[str, object] = {
        "requestId": session.request_id,
        "sessionId": session.session_id,
        "logGroupIdentifiers": list(session.identifiers.values()),
    }
    if request.log_stream_names is not None:
        start["logStreamNames"] = request.log_stream_names
    if request.log_stream_name_prefixes is not None:
        start["logStreamNamePrefixes"] = request.log_stream_name_prefixes
    if request.log_event_filter_pattern is not None:
        start["logEventFilterPattern"] = request.log_event_filter_pattern
    return start


async def _send(send: Send, data: bytes, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


OPERATIONS = {**logs.OPERATIONS, "StartLiveTail": start_live_tail}
"""The logs API's operations, StartLiveTail with them."""
