"""Which IAM actions an EventBridge request needs, on which ARNs (read from its body).

EventBridge's operations act on the resources the Service Authorization
Reference gives them:

- a rule (`arn:aws:events:REGION:ACCOUNT:rule/[BUS/]NAME`): PutRule, DescribeRule,
  EnableRule, DisableRule, DeleteRule, PutTargets, RemoveTargets, ListTargetsByRule;
- an event bus (`arn:aws:events:REGION:ACCOUNT:event-bus/NAME`): CreateEventBus,
  DescribeEventBus, DeleteEventBus, and PutEvents (each bus its entries name);
- `*`: ListRules, ListRuleNamesByTarget, ListEventBuses, TestEventPattern.

PutTargets with a target's `RoleArn` also passes that role (`iam:PassRole`,
`iam:PassedToService` events.amazonaws.com). A body whose names cannot be read
is checked on `*`, so a caller allowed only some resources gets
AccessDeniedException before any validation error, as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lambdad.api.context import ApiContext
from lambdad.errors import LambdadError

Check = tuple[str, Sequence[str], dict[str, str]]
"""(action, ARNs, extra condition keys)."""

_RULE_BY_NAME = ("PutRule", "DescribeRule", "EnableRule", "DisableRule", "DeleteRule")
_RULE_BY_RULE = ("PutTargets", "RemoveTargets", "ListTargetsByRule")
_BUS = ("CreateEventBus", "DescribeEventBus", "DeleteEventBus")
PASSED_TO = {"iam:PassedToService": "events.amazonaws.com"}


def events_checks(ctx: ApiContext, operation: str, body: bytes) -> list[Check]:
    """What the caller of `operation` with `body` must be allowed."""
    action = f"events:{operation}"
    try:
        request = json.loads(body or b"{}")
        if not isinstance(request, dict):
            raise ValueError("not an object")
        return _checks(ctx, operation, action, request)
    except (ValueError, TypeError, LambdadError):
        return [(action, ["*"], {})]


def _checks(ctx: ApiContext, operation: str, action: str, request: dict[str, Any]) -> list[Check]:
    names = ctx.event_rules.names
    if operation in _RULE_BY_NAME or operation in _RULE_BY_RULE:
        rule = _text(request.get("Name" if operation in _RULE_BY_NAME else "Rule"))
        if not rule:
            raise ValueError("no rule named")
        bus = names.bus_name(_text(request.get("EventBusName")))
        checks: list[Check] = [(action, [names.rule_arn(bus, rule)], {})]
        if operation == "PutTargets":
            roles = [t.get("RoleArn") for t in request.get("Targets") or [] if isinstance(t, dict)]
            for role in dict.fromkeys(r for r in roles if isinstance(r, str) and r):
                checks.append(("iam:PassRole", [role], PASSED_TO))
        return checks
    if operation in _BUS:
        bus = names.bus_name(_text(request.get("Name")), "name")
        return [(action, [names.bus_arn(bus)], {})]
    if operation == "PutEvents":
        entries = [e for e in request.get("Entries") or [] if isinstance(e, dict)]
        buses = dict.fromkeys(names.bus_name(_text(e.get("EventBusName"))) for e in entries)
        return [(action, [names.bus_arn(b) for b in buses] or ["*"], {})]
    return [(action, ["*"], {})]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("not a string")
