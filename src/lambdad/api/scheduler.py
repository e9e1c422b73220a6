"""Handlers of EventBridge Scheduler's REST-JSON API (boto3's `scheduler` client):
parse, call `events.Scheduler`, render."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from lambdad.api import shapes
from lambdad.api.access import authorize
from lambdad.api.context import ApiContext
from lambdad.api.params import enum_value, optional_int_param
from lambdad.api.shapes import scheduler as wire
from lambdad.catalog.constraints import Violations
from lambdad.errors import ValidationError
from lambdad.events import RetryPolicy, Schedule, ScheduleConfig, ScheduleGroup, ScheduleTarget

Write = Callable[[str, str | None, ScheduleConfig], Awaitable[Schedule]]
PASSED_TO = {"iam:PassedToService": "scheduler.amazonaws.com"}
OTHER_TARGETS = (
    "ecs_parameters",
    "event_bridge_parameters",
    "kinesis_parameters",
    "sage_maker_pipeline_parameters",
    "sqs_parameters",
)


def _json(value: object) -> Response:
    return Response(shapes.encode(value), media_type="application/json")


def _config(body: wire.ScheduleRequest) -> ScheduleConfig:
    """The request's configuration, its required members checked as AWS does."""
    violations = Violations()
    violations.required(body.schedule_expression, "scheduleExpression")
    violations.required(body.target, "target")
    violations.required(body.flexible_time_window, "flexibleTimeWindow")
    if body.target is not None:
        violations.required(body.target.arn, "target.arn")
        violations.required(body.target.role_arn, "target.roleArn")
    if body.flexible_time_window is not None:
        violations.required(body.flexible_time_window.mode, "flexibleTimeWindow.mode")
    violations.raise_if_any()
    assert body.schedule_expression and body.target and body.flexible_time_window
    target, window = body.target, body.flexible_time_window
    assert target.arn and target.role_arn and window.mode
    if any(getattr(target, name) is not None for name in OTHER_TARGETS):
        raise ValidationError("lambdad's scheduler invokes Lambda function targets only.")
    if target.dead_letter_config is not None:
        raise ValidationError("Dead-letter queues (SQS) are not available on lambdad.")
    retry = target.retry_policy or wire.RetryPolicyShape()
    defaults = RetryPolicy()
    return ScheduleConfig(
        expression=body.schedule_expression,
        target=ScheduleTarget(
            arn=target.arn,
            role_arn=target.role_arn,
            input=target.input,
            retry_policy=RetryPolicy(
                maximum_event_age_s=defaults.maximum_event_age_s
                if retry.maximum_event_age_in_seconds is None
                else retry.maximum_event_age_in_seconds,
                maximum_retry_attempts=defaults.maximum_retry_attempts
                if retry.maximum_retry_attempts is None
                else retry.maximum_retry_attempts,
            ),
        ),
        window_mode=window.mode,
        window_minutes=window.maximum_window_in_minutes,
        timezone=body.schedule_expression_timezone,
        start_date=body.start_date,
        end_date=body.end_date,
        description=body.description,
        state=body.state or "ENABLED",
        action_after_completion=body.action_after_completion or "NONE",
        kms_key_arn=body.kms_key_arn,
        client_token=body.client_token,
    )


def _render(schedule: Schedule) -> wire.GetScheduleOutput:
    config = schedule.config
    target, retry = config.target, config.target.retry_policy
    return wire.GetScheduleOutput(
        arn=schedule.arn,
        group_name=schedule.group_name,
        name=schedule.name,
        schedule_expression=config.expression,
        schedule_expression_timezone=config.timezone or "UTC",
        state=config.state,
        creation_date=schedule.creation_date,
        last_modification_date=schedule.last_modification_date,
        target=wire.TargetShape(
            arn=target.arn,
            role_arn=target.role_arn,
            input=target.input,
            retry_policy=wire.RetryPolicyShape(
                maximum_event_age_in_seconds=retry.maximum_event_age_s,
                maximum_retry_attempts=retry.maximum_retry_attempts,
            ),
        ),
        flexible_time_window=wire.FlexibleTimeWindowShape(
            mode=config.window_mode, maximum_window_in_minutes=config.window_minutes
        ),
        action_after_completion=config.action_after_completion,
        start_date=config.start_date,
        end_date=config.end_date,
        description=config.description,
        kms_key_arn=config.kms_key_arn,
    )


def _group(group: ScheduleGroup) -> wire.ScheduleGroupSummary:
    return wire.ScheduleGroupSummary(
        arn=group.arn,
        name=group.name,
        state="ACTIVE",
        creation_date=group.creation_date,
        last_modification_date=group.last_modification_date,
    )


def _tags(tags: list[wire.TagShape] | None) -> dict[str, str]:
    violations = Violations()
    found: dict[str, str] = {}
    for n, tag in enumerate(tags or [], start=1):
        violations.string(tag.key, f"tags.{n}.member.key", 1, 128)
        violations.string(tag.value, f"tags.{n}.member.value", 1, 256)
        if tag.key is not None and tag.value is not None:
            found[tag.key] = tag.value
    violations.raise_if_any()
    return found


async def create_schedule(request: Request) -> Response:
    return await _write(request, "CreateSchedule", ApiContext.of(request).scheduler.create)


async def update_schedule(request: Request) -> Response:
    return await _write(request, "UpdateSchedule", ApiContext.of(request).scheduler.update)


async def _write(request: Request, name: str, operation: Write) -> Response:
    """CreateSchedule and UpdateSchedule: the same request, applied by `operation`.
    Authorized here: the schedule's group is in the body. Giving a schedule its
    execution role is passing that role (iam:PassRole), as on AWS."""
    ctx = ApiContext.of(request)
    body = shapes.decode_body(await request.body(), wire.ScheduleRequest)
    schedule_name = request.path_params["Name"]
    arn = ctx.scheduler.schedule_arn(body.group_name, schedule_name)
    await authorize(request, f"scheduler:{name}", [arn])
    role = body.target.role_arn if body.target is not None else None
    if role:
        await authorize(request, "iam:PassRole", [role], PASSED_TO)
    schedule = await operation(schedule_name, body.group_name, _config(body))
    return _json(wire.ScheduleArnOutput(schedule_arn=schedule.arn))


async def get_schedule(request: Request) -> Response:
    ctx = ApiContext.of(request)
    group_name = request.query_params.get("groupName")
    return _json(_render(await ctx.scheduler.get(request.path_params["Name"], group_name)))


async def delete_schedule(request: Request) -> Response:
    ctx = ApiContext.of(request)
    group_name = request.query_params.get("groupName")
    await ctx.scheduler.delete(request.path_params["Name"], group_name)
    return _json({})


async def list_schedules(request: Request) -> Response:
    ctx = ApiContext.of(request)
    params = request.query_params
    state = params.get("State")
    if state is not None:
        enum_value(state, "state", ["ENABLED", "DISABLED"])
    page, token = await ctx.scheduler.list(
        params.get("ScheduleGroup"),
        params.get("NamePrefix"),
        state,
        params.get("NextToken"),
        optional_int_param(params, "MaxResults"),
    )
    summaries = [
        wire.ScheduleSummary(
            arn=s.arn,
            name=s.name,
            group_name=s.group_name,
            state=s.config.state,
            creation_date=s.creation_date,
            last_modification_date=s.last_modification_date,
            target=wire.TargetSummary(arn=s.config.target.arn),
        )
        for s in page
    ]
    return _json(wire.ListSchedulesOutput(schedules=summaries, next_token=token))


async def create_schedule_group(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = shapes.decode_body(await request.body(), wire.CreateScheduleGroupInput)
    group = await ctx.scheduler.create_group(request.path_params["Name"], _tags(body.tags))
    return _json(wire.ScheduleGroupArnOutput(schedule_group_arn=group.arn))


async def get_schedule_group(request: Request) -> Response:
    ctx = ApiContext.of(request)
    return _json(_group(await ctx.scheduler.get_group(request.path_params["Name"])))


async def delete_schedule_group(request: Request) -> Response:
    ctx = ApiContext.of(request)
    await ctx.scheduler.delete_group(request.path_params["Name"])
    return _json({})


async def list_schedule_groups(request: Request) -> Response:
    ctx = ApiContext.of(request)
    params = request.query_params
    page, token = await ctx.scheduler.list_groups(
        params.get("NamePrefix"), params.get("NextToken"), optional_int_param(params, "MaxResults")
    )
    groups = [_group(g) for g in page]
    return _json(wire.ListScheduleGroupsOutput(schedule_groups=groups, next_token=token))


async def tag_resource(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = shapes.decode_body(await request.body(), wire.TagResourceInput)
    await ctx.scheduler.tag_group(request.path_params["ResourceArn"], _tags(body.tags))
    return _json({})


async def untag_resource(request: Request) -> Response:
    ctx = ApiContext.of(request)
    keys = request.query_params.getlist("TagKeys")
    await ctx.scheduler.untag_group(request.path_params["ResourceArn"], keys)
    return _json({})


async def list_tags_for_resource(request: Request) -> Response:
    ctx = ApiContext.of(request)
    tags = await ctx.scheduler.group_tags(request.path_params["ResourceArn"])
    shaped = [wire.TagShape(key=k, value=v) for k, v in sorted(tags.items())]
    return _json(wire.ListTagsForResourceOutput(tags=shaped))
