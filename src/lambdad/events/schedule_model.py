"""EventBridge Scheduler's schedules and groups: the validated model and its rules.

A schedule is a name in a group (each region has the group `default`), an
expression (`at`, `rate`, `cron`) read in a time zone, an optional start and end,
a flexible time window, a state, and one target. lambdad's targets are Lambda
functions (a function, version or alias ARN) invoked asynchronously with the
target's `Input` (`{}` when none); other target types are refused at creation,
since nothing here could deliver to them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from lambdad.catalog.constraints import Violations
from lambdad.errors import LambdadError, ResourceNotFound, ValidationError
from lambdad.events.schedule_expressions import (
    At,
    InvalidScheduleExpression,
    InvalidTimezone,
    parse,
    timezone,
)
from lambdad.invoke import MAX_ASYNC_PAYLOAD

DEFAULT_GROUP = "default"
NAME_PATTERN = r"[0-9a-zA-Z-_.]+"
ROLE_ARN_PATTERN = r"arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]+"
KMS_KEY_ARN_PATTERN = r"arn:aws[a-z-]*:kms:[a-z0-9\-]+:\d{12}:(key|alias)\/[0-9a-zA-Z-_]*"
STATES = ("ENABLED", "DISABLED")
ACTIONS = ("NONE", "DELETE")
WINDOW_MODES = ("OFF", "FLEXIBLE")
LAMBDA_ARN = re.compile(
    r"arn:aws[a-z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?"
)
START_GRACE_S = 300.0


class ScheduleConflict(LambdadError):
    code = "ConflictException"
    status = 409


class ScheduleNotFound(ResourceNotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"Schedule {name} does not exist.")


class ScheduleGroupNotFound(ResourceNotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"Schedule group {name} does not exist.")


@dataclass(frozen=True)
class RetryPolicy:
    maximum_event_age_s: int = 86400
    maximum_retry_attempts: int = 185


@dataclass(frozen=True)
class ScheduleTarget:
    arn: str
    role_arn: str
    input: str | None = None
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    dead_letter_arn: str | None = None


@dataclass(frozen=True)
class ScheduleConfig:
    """What CreateSchedule and UpdateSchedule set (Update replaces all of it)."""

    expression: str
    target: ScheduleTarget
    window_mode: str = "OFF"
    window_minutes: int | None = None
    timezone: str | None = None
    start_date: float | None = None
    end_date: float | None = None
    description: str | None = None
    state: str = "ENABLED"
    action_after_completion: str = "NONE"
    kms_key_arn: str | None = None
    client_token: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScheduleConfig:
        target = dict(data["target"])
        target["retry_policy"] = RetryPolicy(**target["retry_policy"])
        return cls(**{**data, "target": ScheduleTarget(**target)})


@dataclass(frozen=True)
class Schedule:
    region: str
    account_id: str
    group_name: str
    name: str
    config: ScheduleConfig
    creation_date: float
    last_modification_date: float

    @property
    def arn(self) -> str:
        return schedule_arn(self.region, self.account_id, self.group_name, self.name)


@dataclass(frozen=True)
class ScheduleGroup:
    region: str
    account_id: str
    name: str
    creation_date: float | None
    last_modification_date: float | None
    tags: dict[str, str]

    @property
    def arn(self) -> str:
        return group_arn(self.region, self.account_id, self.name)


def schedule_arn(region: str, account_id: str, group_name: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{account_id}:schedule/{group_name}/{name}"


def group_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{account_id}:schedule-group/{name}"


def check_names(name: str | None, group_name: str | None) -> None:
    violations = Violations()
    violations.string(name, "name", 1, 64, NAME_PATTERN)
    violations.string(group_name, "groupName", 1, 64, NAME_PATTERN)
    violations.raise_if_any()


def check_config(
    config: ScheduleConfig, region: str, account_id: str, now: float
) -> ScheduleConfig:
    """Validate a schedule's configuration as AWS does, member constraints first;
    returns it. `now` is the ticker's time (StartDate and EndDate are read in it)."""
    violations = Violations()
    violations.string(config.expression, "scheduleExpression", 1, 256)
    violations.string(config.timezone, "scheduleExpressionTimezone", 1, 50)
    violations.string(config.description, "description", 0, 512)
    violations.string(config.target.arn, "target.arn", 1, 1600)
    violations.string(config.target.role_arn, "target.roleArn", 1, 1600, ROLE_ARN_PATTERN)
    violations.string(config.target.input, "target.input", 1, MAX_ASYNC_PAYLOAD)
    violations.string(config.kms_key_arn, "kmsKeyArn", 1, 2048, KMS_KEY_ARN_PATTERN)
    retry = config.target.retry_policy
    violations.range(
        retry.maximum_retry_attempts, "target.retryPolicy.maximumRetryAttempts", 0, 185
    )
    violations.range(
        retry.maximum_event_age_s, "target.retryPolicy.maximumEventAgeInSeconds", 60, 86400
    )
    if config.window_minutes is not None:
        violations.range(
            config.window_minutes, "flexibleTimeWindow.maximumWindowInMinutes", 1, 1440
        )
    _enum(violations, config.state, "state", STATES)
    _enum(violations, config.action_after_completion, "actionAfterCompletion", ACTIONS)
    _enum(violations, config.window_mode, "flexibleTimeWindow.mode", WINDOW_MODES)
    violations.raise_if_any()
    try:
        expression = parse(config.expression, allow_at=True)
    except InvalidScheduleExpression as exc:
        raise ValidationError(f"Invalid Schedule Expression {config.expression}.") from exc
    try:
        timezone(config.timezone)
    except InvalidTimezone as exc:
        raise ValidationError(f"Invalid Schedule Expression Timezone {config.timezone}.") from exc
    if config.window_mode == "FLEXIBLE" and config.window_minutes is None:
        raise ValidationError("MaximumWindowInMinutes is required when Mode is FLEXIBLE.")
    recurring = not isinstance(expression, At)
    if recurring and config.start_date is not None and config.start_date < now - START_GRACE_S:
        raise ValidationError("The StartDate you specify cannot be earlier than 5 minutes ago.")
    if config.end_date is not None:
        if config.end_date <= now:
            raise ValidationError(
                "The EndDate you specify cannot be earlier than the current time."
            )
        if config.start_date is not None and config.end_date <= config.start_date:
            raise ValidationError("The EndDate you specify must be later than the StartDate.")
    check_lambda_target(config.target.arn, region, account_id)
    return config


def check_lambda_target(arn: str, region: str, account_id: str) -> tuple[str, str | None]:
    """The function name and qualifier of a Lambda target ARN of this region and account."""
    match = LAMBDA_ARN.fullmatch(arn)
    if match is None:
        raise ValidationError(
            f"Invalid target ARN {arn}: lambdad's scheduler invokes Lambda functions only "
            "(arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])."
        )
    if match["region"] != region or match["account"] != account_id:
        raise ValidationError(
            f"Invalid target ARN {arn}: the function must be in this schedule's region "
            f"({region}) and account ({account_id})."
        )
    return match["name"], match["qualifier"]


def _enum(violations: Violations, value: str, member: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        violations.add(value, member, f"Member must satisfy enum value set: [{', '.join(allowed)}]")
