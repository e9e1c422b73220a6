"""Triggers: the EventBridge-compatible event bus (buses, rules, targets, PutEvents),
schedule expressions, the durable ticker that fires them, and EventBridge
Scheduler's schedules."""

from lambdad.events.errors import (
    EventsError,
    InvalidEventPattern,
    LimitExceeded,
    ResourceAlreadyExists,
)
from lambdad.events.model import EventBus, InputTransformer, Rule, RuleState, Target
from lambdad.events.patterns import Pattern, compile_pattern, matches_event
from lambdad.events.publish import Entry, EntryResult, InvokePermission, Publisher
from lambdad.events.rules import EventRules, Page, RuleSettings
from lambdad.events.schedule_expressions import (
    At,
    Cron,
    Expression,
    InvalidScheduleExpression,
    InvalidTimezone,
    Rate,
    next_fire,
    parse,
    timezone,
)
from lambdad.events.schedule_model import (
    RetryPolicy,
    Schedule,
    ScheduleConfig,
    ScheduleConflict,
    ScheduleGroup,
    ScheduleGroupNotFound,
    ScheduleNotFound,
    ScheduleTarget,
)
from lambdad.events.scheduled_rules import ScheduledRules
from lambdad.events.scheduler import Scheduler
from lambdad.events.ticker import DropFire, Fire, Ticker, TimerSpec

__all__ = [
    "At",
    "Cron",
    "DropFire",
    "Entry",
    "EntryResult",
    "EventBus",
    "EventRules",
    "EventsError",
    "Expression",
    "Fire",
    "InputTransformer",
    "InvalidEventPattern",
    "InvalidScheduleExpression",
    "InvalidTimezone",
    "InvokePermission",
    "LimitExceeded",
    "Page",
    "Pattern",
    "Publisher",
    "Rate",
    "ResourceAlreadyExists",
    "RetryPolicy",
    "Rule",
    "RuleSettings",
    "RuleState",
    "Schedule",
    "ScheduleConfig",
    "ScheduleConflict",
    "ScheduleGroup",
    "ScheduleGroupNotFound",
    "ScheduleNotFound",
    "ScheduleTarget",
    "ScheduledRules",
    "Scheduler",
    "Target",
    "Ticker",
    "TimerSpec",
    "compile_pattern",
    "matches_event",
    "next_fire",
    "parse",
    "timezone",
]
