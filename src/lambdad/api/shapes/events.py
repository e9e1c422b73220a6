"""Wire shapes of the events (EventBridge) JSON API, named as in botocore's model."""

from __future__ import annotations

from typing import Any

from lambdad.api.shapes.functions import Shape


class TagShape(Shape):
    key: str
    value: str


class PutRuleRequest(Shape):
    name: str
    schedule_expression: str | None = None
    event_pattern: str | None = None
    state: str | None = None
    description: str | None = None
    role_arn: str | None = None
    tags: list[TagShape] | None = None
    event_bus_name: str | None = None


class RuleRequest(Shape):
    """DescribeRule, EnableRule, DisableRule and DeleteRule."""

    name: str
    event_bus_name: str | None = None
    force: bool = False


class ListRulesRequest(Shape):
    name_prefix: str | None = None
    event_bus_name: str | None = None
    next_token: str | None = None
    limit: int | None = None


class TestEventPatternRequest(Shape):
    event_pattern: str
    event: str


class TestEventPatternResponse(Shape):
    result: bool


class ListRuleNamesByTargetRequest(Shape):
    target_arn: str
    event_bus_name: str | None = None
    next_token: str | None = None
    limit: int | None = None


class ListRuleNamesByTargetResponse(Shape):
    rule_names: list[str]
    next_token: str | None = None


class PutRuleResponse(Shape):
    rule_arn: str


class RuleShape(Shape):
    """Rule (ListRules) and DescribeRuleResponse (which adds CreatedBy)."""

    name: str
    arn: str
    state: str
    event_bus_name: str
    event_pattern: str | None = None
    schedule_expression: str | None = None
    description: str | None = None
    role_arn: str | None = None
    created_by: str | None = None


class ListRulesResponse(Shape):
    rules: list[RuleShape]
    next_token: str | None = None


class InputTransformerShape(Shape):
    input_template: str
    input_paths_map: dict[str, str] | None = None


class TargetShape(Shape):
    id: str
    arn: str
    role_arn: str | None = None
    input: str | None = None
    input_path: str | None = None
    input_transformer: InputTransformerShape | None = None
    dead_letter_config: dict[str, Any] | None = None
    retry_policy: dict[str, Any] | None = None


class TargetsRequest(Shape):
    """PutTargets, ListTargetsByRule and RemoveTargets."""

    rule: str
    event_bus_name: str | None = None
    targets: list[TargetShape] | None = None
    ids: list[str] | None = None
    force: bool = False
    next_token: str | None = None
    limit: int | None = None


class FailedTarget(Shape):
    target_id: str
    error_code: str
    error_message: str


class TargetsResult(Shape):
    """PutTargetsResponse and RemoveTargetsResponse."""

    failed_entry_count: int
    failed_entries: list[FailedTarget]


class ListTargetsByRuleResponse(Shape):
    targets: list[TargetShape]
    next_token: str | None = None


class PutEventsRequestEntry(Shape):
    time: float | None = None
    source: str | None = None
    resources: list[str] | None = None
    detail_type: str | None = None
    detail: str | None = None
    event_bus_name: str | None = None
    trace_header: str | None = None


class PutEventsRequest(Shape):
    entries: list[PutEventsRequestEntry]
    endpoint_id: str | None = None


class PutEventsResultEntry(Shape):
    event_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class PutEventsResponse(Shape):
    failed_entry_count: int
    entries: list[PutEventsResultEntry]


class CreateEventBusRequest(Shape):
    name: str
    event_source_name: str | None = None
    description: str | None = None
    kms_key_identifier: str | None = None
    tags: list[TagShape] | None = None


class EventBusRequest(Shape):
    """DescribeEventBus and DeleteEventBus."""

    name: str | None = None


class ListEventBusesRequest(Shape):
    name_prefix: str | None = None
    next_token: str | None = None
    limit: int | None = None


class CreateEventBusResponse(Shape):
    event_bus_arn: str
    description: str | None = None


class EventBusShape(Shape):
    """EventBus (ListEventBuses) and DescribeEventBusResponse."""

    name: str
    arn: str
    creation_time: float
    last_modified_time: float
    description: str | None = None


class ListEventBusesResponse(Shape):
    event_buses: list[EventBusShape]
    next_token: str | None = None
