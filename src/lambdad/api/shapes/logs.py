"""Wire shapes of lambdad's own log endpoints, in CloudWatch Logs' spelling (camelCase)."""

from __future__ import annotations

import msgspec


class LogRetention(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    """A log group's retention, as CloudWatch's PutRetentionPolicy and DescribeLogGroups
    name it; `retention_in_days` None: the events never expire."""

    log_group_name: str | None = None
    retention_in_days: int | None = None


# ---- CloudWatch Logs' JSON API (Logs_20140328), named as in botocore's model -------------


class Camel(msgspec.Struct, rename="camel", omit_defaults=True, forbid_unknown_fields=False):
    pass


class LogGroupRequest(Camel):
    """CreateLogGroup, DeleteLogGroup, DeleteRetentionPolicy (and PutRetentionPolicy's)."""

    log_group_name: str
    retention_in_days: int | None = None
    kms_key_id: str | None = None
    log_group_class: str | None = None


class DescribeLogGroupsRequest(Camel):
    log_group_name_prefix: str | None = None
    log_group_name_pattern: str | None = None
    next_token: str | None = None
    limit: int | None = None


class LogGroupShape(Camel):
    log_group_name: str
    creation_time: int
    metric_filter_count: int
    arn: str
    stored_bytes: int
    log_group_class: str
    log_group_arn: str
    retention_in_days: int | None = None


class DescribeLogGroupsResponse(Camel):
    log_groups: list[LogGroupShape]
    next_token: str | None = None


class DescribeLogStreamsRequest(Camel):
    log_group_name: str | None = None
    log_group_identifier: str | None = None
    log_stream_name_prefix: str | None = None
    order_by: str | None = None
    descending: bool = False
    next_token: str | None = None
    limit: int | None = None


class LogStreamShape(Camel):
    log_stream_name: str
    creation_time: int
    arn: str
    stored_bytes: int
    first_event_timestamp: int | None = None
    last_event_timestamp: int | None = None
    last_ingestion_time: int | None = None


class DescribeLogStreamsResponse(Camel):
    log_streams: list[LogStreamShape]
    next_token: str | None = None


class GetLogEventsRequest(Camel):
    log_stream_name: str
    log_group_name: str | None = None
    log_group_identifier: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    next_token: str | None = None
    limit: int | None = None
    start_from_head: bool = False


class OutputLogEventShape(Camel):
    timestamp: int
    message: str
    ingestion_time: int


class GetLogEventsResponse(Camel):
    events: list[OutputLogEventShape]
    next_forward_token: str
    next_backward_token: str


class FilterLogEventsRequest(Camel):
    log_group_name: str | None = None
    log_group_identifier: str | None = None
    log_stream_names: list[str] | None = None
    log_stream_name_prefix: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    filter_pattern: str | None = None
    next_token: str | None = None
    limit: int | None = None
    interleaved: bool | None = None


class FilteredLogEventShape(Camel):
    log_stream_name: str
    timestamp: int
    message: str
    ingestion_time: int
    event_id: str


class SearchedLogStreamShape(Camel):
    log_stream_name: str
    searched_completely: bool


class FilterLogEventsResponse(Camel):
    events: list[FilteredLogEventShape]
    searched_log_streams: list[SearchedLogStreamShape]
    next_token: str | None = None
