"""Handlers of CloudWatch Logs' JSON API (`Logs_20140328`): decode, call `LogGroups`, render.

Served by `json_protocol.dispatch`; `RESOURCES` names the log group ARNs each
operation acts on, which the authorizer checks (`logs:` actions, AWS's ARNs:
`arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import msgspec

from lambdad.api.context import ApiContext
from lambdad.api.shapes import decode_body
from lambdad.api.shapes import logs as wire
from lambdad.errors import InvalidParameterValue
from lambdad.store.logs import LogEventRow
from lambdad.telemetry import check_retention_days
from lambdad.telemetry.log_errors import InvalidParameter
from lambdad.telemetry.log_groups import LogGroups


def _groups(ctx: ApiContext) -> LogGroups:
    return LogGroups(ctx.logs)


def group_arn(ctx: ApiContext, group: str, star: bool = True) -> str:
    arn = f"arn:aws:logs:{ctx.region}:{ctx.account.account_id}:log-group:{group}"
    return arn + ":*" if star else arn


def _ingestion(event: LogEventRow) -> int:
    return event.ingestion_ms if event.ingestion_ms is not None else event.timestamp_ms


async def create_log_group(ctx: ApiContext, body: bytes) -> None:
    request = decode_body(body, wire.LogGroupRequest)
    if request.log_group_class not in (None, "STANDARD"):
        raise InvalidParameter("Only the STANDARD log group class is offered here.")
    await _groups(ctx).create_group(request.log_group_name)


async def delete_log_group(ctx: ApiContext, body: bytes) -> None:
    request = decode_body(body, wire.LogGroupRequest)
    await _groups(ctx).delete_group(request.log_group_name)


async def put_retention_policy(ctx: ApiContext, body: bytes) -> None:
    request = decode_body(body, wire.LogGroupRequest)
    if request.retention_in_days is None:
        raise InvalidParameter("retentionInDays is required.")
    try:
        check_retention_days(request.retention_in_days)
    except InvalidParameterValue as exc:  # the same message, as this API's error
        raise InvalidParameter(exc.message) from None
    await _groups(ctx).put_retention(request.log_group_name, request.retention_in_days)


async def delete_retention_policy(ctx: ApiContext, body: bytes) -> None:
    request = decode_body(body, wire.LogGroupRequest)
    await _groups(ctx).put_retention(request.log_group_name, None)


async def describe_log_groups(ctx: ApiContext, body: bytes) -> wire.DescribeLogGroupsResponse:
    request = decode_body(body, wire.DescribeLogGroupsRequest)
    page = await _groups(ctx).describe_groups(
        request.log_group_name_prefix,
        request.log_group_name_pattern,
        request.next_token,
        request.limit,
    )
    return wire.DescribeLogGroupsResponse(
        [
            wire.LogGroupShape(
                log_group_name=group.name,
                creation_time=group.created_ms,
                metric_filter_count=0,
                arn=group_arn(ctx, group.name),
                stored_bytes=group.stored_bytes,
                log_group_class="STANDARD",
                log_group_arn=group_arn(ctx, group.name, star=False),
                retention_in_days=group.retention_days,
            )
            for group in page.items
        ],
        page.next_token,
    )


async def describe_log_streams(ctx: ApiContext, body: bytes) -> wire.DescribeLogStreamsResponse:
    request = decode_body(body, wire.DescribeLogStreamsRequest)
    groups = _groups(ctx)
    group = LogGroups.group_name(request.log_group_name, request.log_group_identifier)
    page = await groups.describe_streams(
        group,
        request.log_stream_name_prefix,
        request.order_by,
        request.descending,
        request.next_token,
        request.limit,
    )
    arn = group_arn(ctx, group, star=False)
    return wire.DescribeLogStreamsResponse(
        [
            wire.LogStreamShape(
                log_stream_name=stream.name,
                creation_time=stream.created_ms,
                arn=f"{arn}:log-stream:{stream.name}",
                stored_bytes=0,  # AWS reports 0 for streams since 2019
                first_event_timestamp=stream.first_event_ms,
                last_event_timestamp=stream.last_event_ms,
                last_ingestion_time=stream.last_ingestion_ms,
            )
            for stream in page.items
        ],
        page.next_token,
    )


async def get_log_events(ctx: ApiContext, body: bytes) -> wire.GetLogEventsResponse:
    request = decode_body(body, wire.GetLogEventsRequest)
    groups = _groups(ctx)
    group = LogGroups.group_name(request.log_group_name, request.log_group_identifier)
    found = await groups.get_events(
        group,
        request.log_stream_name,
        request.start_time,
        request.end_time,
        request.next_token,
        request.limit,
        request.start_from_head,
    )
    return wire.GetLogEventsResponse(
        [
            wire.OutputLogEventShape(event.timestamp_ms, event.message, _ingestion(event))
            for event in found.events
        ],
        found.next_forward_token,
        found.next_backward_token,
    )


async def filter_log_events(ctx: ApiContext, body: bytes) -> wire.FilterLogEventsResponse:
    request = decode_body(body, wire.FilterLogEventsRequest)
    groups = _groups(ctx)
    group = LogGroups.group_name(request.log_group_name, request.log_group_identifier)
    page = await groups.filter_events(
        group,
        request.log_stream_names,
        request.log_stream_name_prefix,
        request.start_time,
        request.end_time,
        request.filter_pattern,
        request.next_token,
        request.limit,
    )
    return wire.FilterLogEventsResponse(
        [
            wire.FilteredLogEventShape(
                log_stream_name=event.log_stream,
                timestamp=event.timestamp_ms,
                message=event.message,
                ingestion_time=_ingestion(event),
                event_id=str(event.id),
            )
            for event in page.events
        ],
        [],  # deprecated by AWS: searches are no longer reported per stream
        groups.filter_token(page),
    )


OPERATIONS: Mapping[str, Callable[[ApiContext, bytes], Awaitable[object | None]]] = {
    "CreateLogGroup": create_log_group,
    "DeleteLogGroup": delete_log_group,
    "PutRetentionPolicy": put_retention_policy,
    "DeleteRetentionPolicy": delete_retention_policy,
    "DescribeLogGroups": describe_log_groups,
    "DescribeLogStreams": describe_log_streams,
    "GetLogEvents": get_log_events,
    "FilterLogEvents": filter_log_events,
}


class _Named(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    log_group_name: str | None = None
    log_group_identifier: str | None = None


def resources(ctx: ApiContext, operation: str, body: bytes) -> Sequence[str]:
    """The log group ARNs an operation acts on (`log-group:*` for DescribeLogGroups and
    for a request that names no group: its handler refuses it)."""
    if operation == "DescribeLogGroups":
        return [group_arn(ctx, "*", star=False)]
    try:
        named = msgspec.json.decode(body or b"{}", type=_Named)
        group = LogGroups.group_name(named.log_group_name, named.log_group_identifier)
    except (msgspec.DecodeError, msgspec.ValidationError, InvalidParameter):
        return [group_arn(ctx, "*", star=False)]
    return [group_arn(ctx, group)]
