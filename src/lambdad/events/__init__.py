"""Triggers: the EventBridge-compatible event bus (buses, rules, targets, PutEvents)."""

from lambdad.events.errors import (
    EventsError,
    InvalidEventPattern,
    LimitExceeded,
    ResourceAlreadyExists,
)
from lambdad.events.model import EventBus, InputTransformer, Rule, RuleState, Target
from lambdad.events.patterns import Pattern, compile_pattern, matches_event
from lambdad.events.publish import Entry, EntryResult, Publisher
from lambdad.events.rules import EventRules, Page, RuleSettings, check_schedule_expression

__all__ = [
    "Entry",
    "EntryResult",
    "EventBus",
    "EventRules",
    "EventsError",
    "InputTransformer",
    "InvalidEventPattern",
    "LimitExceeded",
    "Page",
    "Pattern",
    "Publisher",
    "ResourceAlreadyExists",
    "Rule",
    "RuleSettings",
    "RuleState",
    "Target",
    "check_schedule_expression",
    "compile_pattern",
    "matches_event",
]
