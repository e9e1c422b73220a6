"""Handlers of the events (EventBridge) JSON API: decode, call `events`, render.

Served by `json_protocol.dispatch` under the target prefix `AWSEvents`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from lambdad.api.context import ApiContext
from lambdad.api.shapes import decode_body
from lambdad.api.shapes import events as wire
from lambdad.catalog.constraints import Violations
from lambdad.events import (
    Entry,
    EventBus,
    InputTransformer,
    Publisher,
    Rule,
    RuleSettings,
    Target,
    matches_event,
)


def _limit(limit: int | None) -> int | None:
    if limit is not None:
        violations = Violations()
        violations.range(limit, "limit", 1, 100)
        violations.raise_if_any()
    return limit


def _rule(rule: Rule, created_by: str | None = None) -> wire.RuleShape:
    return wire.RuleShape(
        name=rule.name,
        arn=rule.arn,
        state=rule.state.value,
        event_bus_name=rule.event_bus,
        event_pattern=rule.event_pattern,
        schedule_expression=rule.schedule_expression,
        description=rule.description,
        role_arn=rule.role_arn,
        created_by=created_by,
    )


def _bus(bus: EventBus) -> wire.EventBusShape:
    return wire.EventBusShape(
        name=bus.name,
        arn=bus.arn,
        creation_time=bus.created_at,
        last_modified_time=bus.last_modified,
        description=bus.description,
    )


def _target(shape: wire.TargetShape) -> Target:
    transformer = shape.input_transformer
    extra = {
        key: value
        for key, value in (
            ("RoleArn", shape.role_arn),
            ("DeadLetterConfig", shape.dead_letter_config),
            ("RetryPolicy", shape.retry_policy),
        )
        if value is not None
    }
    return Target(
        id=shape.id,
        arn=shape.arn,
        input=shape.input,
        input_path=shape.input_path,
        input_transformer=None
        if transformer is None
        else InputTransformer(transformer.input_template, transformer.input_paths_map),
        extra=extra,
    )


def _target_shape(target: Target) -> wire.TargetShape:
    transformer = target.input_transformer
    return wire.TargetShape(
        id=target.id,
        arn=target.arn,
        input=target.input,
        input_path=target.input_path,
        input_transformer=None
        if transformer is None
        else wire.InputTransformerShape(transformer.input_template, transformer.input_paths_map),
        role_arn=target.extra.get("RoleArn"),
        dead_letter_config=target.extra.get("DeadLetterConfig"),
        retry_policy=target.extra.get("RetryPolicy"),
    )


# Rules


async def put_rule(ctx: ApiContext, body: bytes) -> wire.PutRuleResponse:
    request = decode_body(body, wire.PutRuleRequest)
    rule = await ctx.event_rules.put_rule(
        RuleSettings(
            name=request.name,
            event_bus=request.event_bus_name,
            event_pattern=request.event_pattern,
            schedule_expression=request.schedule_expression,
            state=request.state,
            description=request.description,
            role_arn=request.role_arn,
        )
    )
    return wire.PutRuleResponse(rule_arn=rule.arn)


async def describe_rule(ctx: ApiContext, body: bytes) -> wire.RuleShape:
    request = decode_body(body, wire.RuleRequest)
    rule = await ctx.event_rules.get_rule(request.name, request.event_bus_name)
    return _rule(rule, created_by=ctx.account.account_id)


async def list_rules(ctx: ApiContext, body: bytes) -> wire.ListRulesResponse:
    request = decode_body(body, wire.ListRulesRequest)
    page = await ctx.event_rules.list_rules(
        request.name_prefix, request.event_bus_name, request.next_token, _limit(request.limit)
    )
    return wire.ListRulesResponse(rules=[_rule(r) for r in page.items], next_token=page.next_token)


async def list_rule_names_by_target(
    ctx: ApiContext, body: bytes
) -> wire.ListRuleNamesByTargetResponse:
    request = decode_body(body, wire.ListRuleNamesByTargetRequest)
    page = await ctx.event_rules.rule_names_by_target(
        request.target_arn, request.event_bus_name, request.next_token, _limit(request.limit)
    )
    return wire.ListRuleNamesByTargetResponse(list(page.items), page.next_token)


async def enable_rule(ctx: ApiContext, body: bytes) -> None:
    request = decode_body(body, wire.RuleRequest)
    await ctx.event_rules.set_state(request.name, request.event_bus_name, enabled=True)


async def disable_rule(ctx: ApiContext, body: bytes) -> None:
    request = decode_body(body, wire.RuleRequest)
    await ctx.event_rules.set_state(request.name, request.event_bus_name, enabled=False)


async def delete_rule(ctx: ApiContext, body: bytes) -> None:
    request = decode_body(body, wire.RuleRequest)
    await ctx.event_rules.delete_rule(request.name, request.event_bus_name, request.force)


async def test_event_pattern(_ctx: ApiContext, body: bytes) -> wire.TestEventPatternResponse:
    request = decode_body(body, wire.TestEventPatternRequest)
    return wire.TestEventPatternResponse(matches_event(request.event_pattern, request.event))


# Targets


async def put_targets(ctx: ApiContext, body: bytes) -> wire.TargetsResult:
    request = decode_body(body, wire.TargetsRequest)
    targets = [_target(t) for t in request.targets or []]
    refused = await ctx.event_rules.put_targets(request.rule, request.event_bus_name, targets)
    return wire.TargetsResult(
        failed_entry_count=len(refused),
        failed_entries=[wire.FailedTarget(r.target_id, r.code, r.message) for r in refused],
    )


async def list_targets_by_rule(ctx: ApiContext, body: bytes) -> wire.ListTargetsByRuleResponse:
    request = decode_body(body, wire.TargetsRequest)
    page = await ctx.event_rules.list_targets(
        request.rule, request.event_bus_name, request.next_token, _limit(request.limit)
    )
    return wire.ListTargetsByRuleResponse(
        targets=[_target_shape(t) for t in page.items], next_token=page.next_token
    )


async def remove_targets(ctx: ApiContext, body: bytes) -> wire.TargetsResult:
    request = decode_body(body, wire.TargetsRequest)
    await ctx.event_rules.remove_targets(request.rule, request.event_bus_name, request.ids or [])
    return wire.TargetsResult(failed_entry_count=0, failed_entries=[])


# Events


async def put_events(ctx: ApiContext, body: bytes) -> wire.PutEventsResponse:
    request = decode_body(body, wire.PutEventsRequest)
    entries = [
        Entry(
            source=e.source,
            detail_type=e.detail_type,
            detail=e.detail,
            resources=e.resources,
            time=e.time,
            event_bus_name=e.event_bus_name,
            trace_header=e.trace_header,
        )
        for e in request.entries
    ]
    publisher = Publisher(
        ctx.event_rules, ctx.async_queue.enqueue, ctx.authorizer.service_may_invoke
    )
    results = await publisher.put_events(entries)
    return wire.PutEventsResponse(
        failed_entry_count=sum(1 for r in results if r.error_code),
        entries=[
            wire.PutEventsResultEntry(r.event_id, r.error_code, r.error_message) for r in results
        ],
    )


# Buses


async def create_event_bus(ctx: ApiContext, body: bytes) -> wire.CreateEventBusResponse:
    request = decode_body(body, wire.CreateEventBusRequest)
    bus = await ctx.event_rules.create_bus(
        request.name, request.description, request.event_source_name
    )
    return wire.CreateEventBusResponse(event_bus_arn=bus.arn, description=bus.description)


async def describe_event_bus(ctx: ApiContext, body: bytes) -> wire.EventBusShape:
    request = decode_body(body, wire.EventBusRequest)
    return _bus(await ctx.event_rules.get_bus(request.name))


async def list_event_buses(ctx: ApiContext, body: bytes) -> wire.ListEventBusesResponse:
    request = decode_body(body, wire.ListEventBusesRequest)
    page = await ctx.event_rules.list_buses(
        request.name_prefix, request.next_token, _limit(request.limit)
    )
    return wire.ListEventBusesResponse(
        event_buses=[_bus(b) for b in page.items], next_token=page.next_token
    )


async def delete_event_bus(ctx: ApiContext, body: bytes) -> None:
    request = decode_body(body, wire.EventBusRequest)
    await ctx.event_rules.delete_bus(request.name)


OPERATIONS: Mapping[str, Callable[[ApiContext, bytes], Awaitable[object | None]]] = {
    "PutRule": put_rule,
    "DescribeRule": describe_rule,
    "ListRules": list_rules,
    "ListRuleNamesByTarget": list_rule_names_by_target,
    "EnableRule": enable_rule,
    "DisableRule": disable_rule,
    "DeleteRule": delete_rule,
    "TestEventPattern": test_event_pattern,
    "PutTargets": put_targets,
    "ListTargetsByRule": list_targets_by_rule,
    "RemoveTargets": remove_targets,
    "PutEvents": put_events,
    "CreateEventBus": create_event_bus,
    "DescribeEventBus": describe_event_bus,
    "ListEventBuses": list_event_buses,
    "DeleteEventBus": delete_event_bus,
}
