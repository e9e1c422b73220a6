"""CloudWatch Logs' operations over the log store: groups, streams, reading and searching
events, retention; with CloudWatch's validation, paging and tokens.

Tokens: DescribeLogGroups/DescribeLogStreams and FilterLogEvents hand out opaque
`nextToken`s (where to go on); GetLogEvents hands out AWS's `f/…` and `b/…`
tokens: `f/N` reads the events after event N, `b/N` those before it. A read
that finds nothing more hands back the token it was given, which is how
callers (and boto3's users) know they reached the end.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lambdad.concurrency import run_sync
from lambdad.store.log_queries import EventQuery, FilterPage, GroupRow, LogQueries, StreamRow
from lambdad.store.logs import LogEventRow
from lambdad.telemetry import filter_pattern
from lambdad.telemetry.log_errors import (
    InvalidParameter,
    LogGroupAlreadyExists,
    LogResourceNotFound,
)
from lambdad.telemetry.logs import FunctionLogs

GROUP_NAME = re.compile(r"[\.\-_/#A-Za-z0-9]+")
MAX_EVENTS_BYTES = 1 << 20
"""What one GetLogEvents / FilterLogEvents answer holds at most (1 MB, as AWS)."""
MAX_SCANNED_BYTES = 32 << 20
"""What one FilterLogEvents call reads before it answers with what it found and a
nextToken to go on (AWS also answers searches of big groups in several pages)."""


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_token: str | None


@dataclass(frozen=True)
class StreamEvents:
    events: list[LogEventRow]
    next_forward_token: str
    next_backward_token: str


def _encode_token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _decode_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise InvalidParameter("The specified nextToken is invalid.") from None


def check_group_name(name: str | None, member: str = "logGroupName") -> str:
    if not name or len(name) > 512 or not GROUP_NAME.fullmatch(name):
        raise InvalidParameter(
            f"1 validation error detected: Value '{name}' at '{member}' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )
    return name


def _limit(limit: int | None, default: int, most: int) -> int:
    if limit is None:
        return default
    if not 1 <= limit <= most:
        raise InvalidParameter(
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
            f"constraint: Member must have value between 1 and {most}"
        )
    return limit


def _page(items: list[Any], keys: list[Any], token: str | None, limit: int) -> Page:
    """Items after the token's key (items sorted by `keys`), `limit` of them."""
    start = 0
    if token is not None:
        after = _decode_token(token)
        start = next((i for i, key in enumerate(keys) if key > after), len(keys))
    end = start + limit
    return Page(items[start:end], _encode_token(keys[end - 1]) if end < len(items) else None)


class LogGroups:
    """One region's log groups, over `FunctionLogs`' store (reads flush its queue first,
    so they see everything written before them)."""

    def __init__(self, logs: FunctionLogs) -> None:
        self.logs = logs
        self.queries = LogQueries(logs.store.engine, logs.region)

    @staticmethod
    def group_name(name: str | None, identifier: str | None) -> str:
        """The group a request names by `logGroupName` or `logGroupIdentifier` (its ARN)."""
        if (name is None) == (identifier is None):
            raise InvalidParameter("LogGroup name or identifier must be specified, but not both.")
        if identifier is not None:
            if identifier.startswith("arn:"):
                parts = identifier.split(":")
                if len(parts) < 7 or parts[5] != "log-group":
                    raise InvalidParameter(f"Invalid logGroupIdentifier: {identifier}")
                return check_group_name(parts[6], "logGroupIdentifier")
            return check_group_name(identifier, "logGroupIdentifier")
        return check_group_name(name)

    async def _existing(self, group: str) -> None:
        if not await run_sync(self.queries.group_exists, group):
            raise LogResourceNotFound("The specified log group does not exist.")

    # ---- groups ----------------------------------------------------------------------------

    async def create_group(self, group: str) -> None:
        check_group_name(group)
        if not await run_sync(self.logs.store.create_group, group, self.logs.now_ms()):
            raise LogGroupAlreadyExists("The specified log group already exists")

    async def delete_group(self, group: str) -> None:
        check_group_name(group)
        await self.logs.flush()
        async with self.logs.writing():
            if not await run_sync(self.logs.store.delete_group, group):
                raise LogResourceNotFound("The specified log group does not exist.")
            self.logs.forget_size()

    async def describe_groups(
        self, prefix: str | None, pattern: str | None, token: str | None, limit: int | None
    ) -> Page:
        if prefix is not None and pattern is not None:
            raise InvalidParameter(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
            )
        count = _limit(limit, 50, 50)
        await self.logs.flush()
        groups: list[GroupRow] = await run_sync(self.queries.groups)
        if prefix:
            groups = [g for g in groups if g.name.startswith(prefix)]
        if pattern:
            groups = [g for g in groups if pattern in g.name]
        return _page(groups, [g.name for g in groups], token, count)

    async def put_retention(self, group: str, days: int | None) -> None:
        check_group_name(group)
        await self._existing(group)
        await self.logs.put_retention_policy(group, days)

    # ---- streams ---------------------------------------------------------------------------

    async def describe_streams(
        self,
        group: str,
        prefix: str | None,
        order_by: str | None,
        descending: bool,
        token: str | None,
        limit: int | None,
    ) -> Page:
        order = order_by or "LogStreamName"
        if order not in ("LogStreamName", "LastEventTime"):
            raise InvalidParameter(
                f"1 validation error detected: Value '{order}' at 'orderBy' failed to satisfy "
                "constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )
        if prefix and order == "LastEventTime":
            raise InvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        count = _limit(limit, 50, 50)
        await self.logs.flush()
        await self._existing(group)
        streams: list[StreamRow] = await run_sync(self.queries.streams, group)
        if prefix:
            streams = [s for s in streams if s.name.startswith(prefix)]
        keyed = [(_stream_key(s, order), s) for s in streams]
        keyed.sort(key=lambda pair: pair[0], reverse=descending)
        keys = [key if not descending else _negated(key) for key, _ in keyed]
        return _page([s for _, s in keyed], keys, token, count)

    # ---- events ----------------------------------------------------------------------------

    async def get_events(
        self,
        group: str,
        stream: str,
        start_ms: int | None,
        end_ms: int | None,
        token: str | None,
        limit: int | None,
        start_from_head: bool,
    ) -> StreamEvents:
        count = _limit(limit, 10000, 10000)
        await self.logs.flush()
        if not await run_sync(self.queries.stream_exists, group, stream):
            await self._existing(group)
            raise LogResourceNotFound("The specified log stream does not exist.")
        forward, at = _stream_token(token, start_from_head)
        events = await run_sync(
            lambda: self.queries.stream_events(
                EventQuery(group, streams=[stream], start_ms=start_ms, end_ms=end_ms),
                after_id=at if forward else None,
                before_id=None if forward else at,
                limit=count,
                max_bytes=MAX_EVENTS_BYTES,
            )
        )
        if events:
            return StreamEvents(events, f"f/{events[-1].id:056d}", f"b/{events[0].id:056d}")
        # Nothing (more) this way: the same token back, and the other way from here.
        edge = at or 0
        if forward:
            return StreamEvents(events, f"f/{edge:056d}", f"b/{edge + 1:056d}")
        return StreamEvents(events, f"f/{max(edge - 1, 0):056d}", f"b/{edge:056d}")

    async def filter_events(
        self,
        group: str,
        streams: Sequence[str] | None,
        stream_prefix: str | None,
        start_ms: int | None,
        end_ms: int | None,
        pattern: str | None,
        token: str | None,
        limit: int | None,
    ) -> FilterPage:
        if streams is not None and stream_prefix is not None:
            raise InvalidParameter(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
            )
        count = _limit(limit, 10000, 10000)
        parsed = filter_pattern.parse(pattern)
        after = 0
        if token is not None:
            decoded = _decode_token(token)
            if not isinstance(decoded, dict) or not isinstance(decoded.get("after"), int):
                raise InvalidParameter("The specified nextToken is invalid.")
            after = decoded["after"]
        await self.logs.flush()
        await self._existing(group)
        page = await run_sync(
            lambda: self.queries.filter_events(
                EventQuery(group, streams, stream_prefix, start_ms, end_ms),
                parsed.matches,
                parsed.narrowing,
                after_id=after,
                limit=count,
                max_bytes=MAX_EVENTS_BYTES,
                max_scanned_bytes=MAX_SCANNED_BYTES,
            )
        )
        return page

    @staticmethod
    def filter_token(page: FilterPage) -> str | None:
        return None if page.resume_after is None else _encode_token({"after": page.resume_after})


def _stream_key(stream: StreamRow, order: str) -> list[Any]:
    if order == "LastEventTime":
        return [stream.last_event_ms or 0, stream.name]
    return [stream.name]


def _negated(key: list[Any]) -> list[Any]:
    """A descending order's key as one that grows along the page (for `_page`)."""
    # A name's characters negated, then 1 (above any of them): "abc" before "ab".
    return [-part if isinstance(part, int) else [-ord(c) for c in part] + [1] for part in key]


def _stream_token(token: str | None, start_from_head: bool) -> tuple[bool, int | None]:
    """(forward?, the event id to read after/before) of GetLogEvents' arguments."""
    if token is None:
        return (True, 0) if start_from_head else (False, None)
    found = re.fullmatch(r"([fb])/(\d{1,60})", token)
    if found is None:
        raise InvalidParameter("The specified nextToken is invalid.")
    return found.group(1) == "f", int(found.group(2))
