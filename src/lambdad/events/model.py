"""The event bus's resources as AWS shows them: buses, rules, targets, and their names.

ARNs, as EventBridge writes them:

    arn:aws:events:REGION:ACCOUNT:event-bus/NAME
    arn:aws:events:REGION:ACCOUNT:rule/NAME          a rule on the default bus
    arn:aws:events:REGION:ACCOUNT:rule/BUS/NAME      a rule on another bus
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from lambdad.catalog import Account
from lambdad.catalog.constraints import Violations
from lambdad.errors import ResourceNotFound, ValidationError

DEFAULT_BUS = "default"
RULE_NAME_PATTERN = r"[\.\-_A-Za-z0-9]+"
TARGET_ID_PATTERN = r"[\.\-_A-Za-z0-9]+"
BUS_NAME_OR_ARN_PATTERN = (
    r"(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[/\.\-_A-Za-z0-9]+"
)
_BUS_ARN = re.compile(
    r"arn:aws[\w-]*:events:(?P<region>[a-z]+-[a-z]+-[\w-]+):(?P<account>[0-9]{12}):"
    r"event-bus/(?P<name>.+)"
)


class RuleState(Enum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"
    ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"

    @property
    def enabled(self) -> bool:
        return self is not RuleState.DISABLED


@dataclass(frozen=True)
class EventBus:
    name: str
    arn: str
    description: str | None
    created_at: float
    last_modified: float


@dataclass(frozen=True)
class Rule:
    name: str
    arn: str
    event_bus: str
    event_pattern: str | None
    schedule_expression: str | None
    state: RuleState
    description: str | None
    role_arn: str | None


@dataclass(frozen=True)
class InputTransformer:
    input_template: str
    input_paths_map: dict[str, str] | None = None


@dataclass(frozen=True)
class Target:
    """A rule's target; EventBridge's other members (RetryPolicy, DeadLetterConfig, ...)
    are kept as sent in `extra` and shown back."""

    id: str
    arn: str
    input: str | None = None
    input_path: str | None = None
    input_transformer: InputTransformer | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Names:
    """ARNs and names of one region's event bus resources."""

    account: Account

    def bus_arn(self, bus: str) -> str:
        return f"arn:aws:events:{self.account.region}:{self.account.account_id}:event-bus/{bus}"

    def rule_arn(self, bus: str, rule: str) -> str:
        path = rule if bus == DEFAULT_BUS else f"{bus}/{rule}"
        return f"arn:aws:events:{self.account.region}:{self.account.account_id}:rule/{path}"

    def bus_name(self, value: str | None, member: str = "eventBusName") -> str:
        """The bus a (optional) EventBusName names: a name or this region's bus ARN."""
        if value is None:
            return DEFAULT_BUS
        violations = Violations()
        violations.string(value, member, 1, 1600, BUS_NAME_OR_ARN_PATTERN)
        violations.raise_if_any()
        match = _BUS_ARN.fullmatch(value)
        if match is None:
            return value
        if (match.group("region"), match.group("account")) != (
            self.account.region,
            self.account.account_id,
        ):
            raise ResourceNotFound(f"Event bus {value} does not exist.")
        return match.group("name")


def check_rule_name(name: str, member: str = "name") -> None:
    violations = Violations()
    violations.string(name, member, 1, 64, RULE_NAME_PATTERN)
    violations.raise_if_any()


def check_count(count: int, member: str, low: int, high: int) -> None:
    """A list member's length constraint (AWS's min/max on Targets, Ids, Entries)."""
    if low <= count <= high:
        return
    rule = (
        f"Member must have length greater than or equal to {low}"
        if count < low
        else f"Member must have length less than or equal to {high}"
    )
    raise ValidationError(
        f"1 validation error detected: Value at '{member}' failed to satisfy constraint: {rule}"
    )


def rule_not_found(rule: str, bus: str) -> ResourceNotFound:
    return ResourceNotFound(f"Rule {rule} does not exist on EventBus {bus}.")


def bus_not_found(bus: str) -> ResourceNotFound:
    return ResourceNotFound(f"Event bus {bus} does not exist.")
