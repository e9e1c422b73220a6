"""Shapes of EventBridge Scheduler's REST-JSON API (botocore's `scheduler` names)."""

from __future__ import annotations

from typing import Any

from lambdad.api.shapes.functions import Shape


class RetryPolicyShape(Shape):
    maximum_event_age_in_seconds: int | None = None
    maximum_retry_attempts: int | None = None


class DeadLetterConfigShape(Shape):
    arn: str | None = None


class TargetShape(Shape):
    arn: str | None = None
    role_arn: str | None = None
    input: str | None = None
    retry_policy: RetryPolicyShape | None = None
    dead_letter_config: DeadLetterConfigShape | None = None
    # Parameters of targets other than Lambda functions (refused: see schedule_model).
    ecs_parameters: Any | None = None
    event_bridge_parameters: Any | None = None
    kinesis_parameters: Any | None = None
    sage_maker_pipeline_parameters: Any | None = None
    sqs_parameters: Any | None = None


class FlexibleTimeWindowShape(Shape):
    mode: str | None = None
    maximum_window_in_minutes: int | None = None


class ScheduleRequest(Shape):
    """CreateSchedule and UpdateSchedule bodies."""

    group_name: str | None = None
    schedule_expression: str | None = None
    start_date: float | None = None
    end_date: float | None = None
    description: str | None = None
    schedule_expression_timezone: str | None = None
    state: str | None = None
    kms_key_arn: str | None = None
    target: TargetShape | None = None
    flexible_time_window: FlexibleTimeWindowShape | None = None
    client_token: str | None = None
    action_after_completion: str | None = None


class ScheduleArnOutput(Shape):
    schedule_arn: str


class GetScheduleOutput(Shape):
    arn: str
    group_name: str
    name: str
    schedule_expression: str
    schedule_expression_timezone: str
    state: str
    creation_date: float
    last_modification_date: float
    target: TargetShape
    flexible_time_window: FlexibleTimeWindowShape
    action_after_completion: str
    start_date: float | None = None
    end_date: float | None = None
    description: str | None = None
    kms_key_arn: str | None = None


class TargetSummary(Shape):
    arn: str


class ScheduleSummary(Shape):
    arn: str
    name: str
    group_name: str
    state: str
    creation_date: float
    last_modification_date: float
    target: TargetSummary


class ListSchedulesOutput(Shape):
    schedules: list[ScheduleSummary]
    next_token: str | None = None


class TagShape(Shape):
    key: str | None = None
    value: str | None = None


class CreateScheduleGroupInput(Shape):
    tags: list[TagShape] | None = None
    client_token: str | None = None


class ScheduleGroupArnOutput(Shape):
    schedule_group_arn: str


class ScheduleGroupSummary(Shape):
    """GetScheduleGroup's output, and an entry of ListScheduleGroups."""

    arn: str
    name: str
    state: str
    creation_date: float | None = None
    last_modification_date: float | None = None


class ListScheduleGroupsOutput(Shape):
    schedule_groups: list[ScheduleGroupSummary]
    next_token: str | None = None


class TagResourceInput(Shape):
    tags: list[TagShape] | None = None


class ListTagsForResourceOutput(Shape):
    tags: list[TagShape]
