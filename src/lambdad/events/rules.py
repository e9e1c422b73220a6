"""Event buses, their rules and the rules' targets: the validated resources (EventBridge's).

`EventRules` is bound to one region (its `account`'s; the API's context
rebinds a copy per region), as every resource of the events API belongs to
the region its request is signed for. Patterns are
compiled when a rule is put, so a bad one is refused with EventBridge's
`InvalidEventPatternException` and a stored one always compiles.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from lambdad.catalog import Account
from lambdad.catalog.constraints import Violations
from lambdad.concurrency import run_sync
from lambdad.errors import ValidationError
from lambdad.events.errors import LimitExceeded, ResourceAlreadyExists
from lambdad.events.model import (
    DEFAULT_BUS,
    EventBus,
    InputTransformer,
    Names,
    Rule,
    RuleState,
    Target,
    bus_not_found,
    check_count,
    check_rule_name,
    rule_not_found,
)
from lambdad.events.patterns import compile_pattern
from lambdad.events.schedule_expressions import InvalidScheduleExpression, parse
from lambdad.events.targets import MAX_TARGETS_PER_RULE, Refusal, check_target, deliverable
from lambdad.store.event_bus import BusRow, EventBusStore, RuleRow, TargetRow

NON_PARTNER_BUS_PATTERN = r"[\.\-_A-Za-z0-9]+"
DEFAULT_PAGE = 100
MAX_RULES_PER_BUS = 300  # EventBridge's quotas (default values)
MAX_BUSES = 100
LIMIT_MESSAGE = "The requested resource exceeds the maximum number allowed."
Clock = Callable[[], float]
RuleListener = Callable[[str, str, "Rule | None"], Awaitable[None]]
"""Told (region, name, the rule or None when deleted) after a default-bus rule changed."""


def check_schedule_expression(expression: str) -> None:
    """A rule's rate(...) or six-field cron(...) (EventBridge rules have no at(...))."""
    try:
        parse(expression)
    except InvalidScheduleExpression as exc:
        raise ValidationError("Parameter ScheduleExpression is not valid.") from exc


@dataclass(frozen=True)
class RuleSettings:
    """PutRule's request, as given."""

    name: str
    event_bus: str | None = None
    event_pattern: str | None = None
    schedule_expression: str | None = None
    state: str | None = None
    description: str | None = None
    role_arn: str | None = None


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    next_token: str | None


class EventRules:
    def __init__(
        self,
        account: Account,
        store: EventBusStore,
        clock: Clock = time.time,
    ) -> None:
        self.account = account
        self.store = store
        self._clock = clock
        self._listeners: list[RuleListener] = []  # shared by every region's copy

    def in_region(self, region: str) -> EventRules:
        """This service for another region's resources (a copy sharing the rest)."""
        clone = copy.copy(self)
        clone.account = replace(self.account, region=region)
        return clone

    def on_rule_change(self, listener: RuleListener) -> None:
        """Call `listener` after a rule of a default bus is put, enabled, disabled or
        deleted (the scheduled rules follow them)."""
        self._listeners.append(listener)

    async def _changed(self, name: str, rule: Rule | None) -> None:
        for listener in self._listeners:
            await listener(self.region, name, rule)

    @property
    def region(self) -> str:
        return self.account.region

    @property
    def names(self) -> Names:
        """ARNs of `account`'s region (a copy for another region swaps `account`)."""
        return Names(self.account)

    # Buses

    async def create_bus(
        self, name: str, description: str | None, event_source_name: str | None = None
    ) -> EventBus:
        if event_source_name is not None:
            raise ValidationError(
                "Partner event buses (EventSourceName) are not supported by this server."
            )
        violations = Violations()
        violations.string(name, "name", 1, 256, NON_PARTNER_BUS_PATTERN)
        violations.string(description, "description", 0, 512)
        violations.raise_if_any()
        if name.startswith("aws."):
            raise ValidationError("Event source aws.* is reserved for partner event buses.")
        now = self._clock()
        row = BusRow(self.region, name, description, now, now)
        await self._default_bus()  # counted among the region's buses, as AWS counts it
        if await run_sync(self.store.count_buses, self.region) >= MAX_BUSES:
            raise LimitExceeded(LIMIT_MESSAGE)
        if name == DEFAULT_BUS or not await run_sync(self.store.create_bus, row):
            raise ResourceAlreadyExists(f"Event bus {name} already exists.")
        return self._bus(row)

    async def get_bus(self, name_or_arn: str | None) -> EventBus:
        name = self.names.bus_name(name_or_arn, "name")
        row = await run_sync(self.store.get_bus, self.region, name)
        if row is None and name == DEFAULT_BUS:
            row = await self._default_bus()
        if row is None:
            raise bus_not_found(name)
        return self._bus(row)

    async def list_buses(self, prefix: str | None, token: str | None, limit: int | None) -> Page:
        await self._default_bus()
        after, size = _paging(token, limit)
        rows = await run_sync(self.store.list_buses, self.region, prefix or "", after, size + 1)
        return _page([self._bus(r) for r in rows], size, lambda bus: bus.name)

    async def delete_bus(self, name: str | None) -> None:
        violations = Violations()
        if violations.required(name, "name"):
            violations.string(name, "name", 1, 256, r"[/\.\-_A-Za-z0-9]+")
        violations.raise_if_any()
        assert name is not None
        if name == DEFAULT_BUS:
            raise ValidationError("Cannot delete event bus default.")
        await run_sync(self.store.delete_bus, self.region, name)  # none: nothing to do, as AWS

    async def _default_bus(self) -> BusRow:
        """The default bus exists in every region; its row is made on first use."""
        row = await run_sync(self.store.get_bus, self.region, DEFAULT_BUS)
        if row is None:
            now = self._clock()
            await run_sync(self.store.create_bus, BusRow(self.region, DEFAULT_BUS, None, now, now))
            row = await run_sync(self.store.get_bus, self.region, DEFAULT_BUS)
            assert row is not None
        return row

    def _bus(self, row: BusRow) -> EventBus:
        return EventBus(
            row.name,
            self.names.bus_arn(row.name),
            row.description,
            row.created_at,
            row.last_modified,
        )

    async def _existing_bus(self, name_or_arn: str | None) -> str:
        return (await self.get_bus(name_or_arn)).name

    # Rules

    async def put_rule(self, settings: RuleSettings) -> Rule:
        check_rule_name(settings.name)
        violations = Violations()
        violations.string(settings.event_pattern, "eventPattern", 0, 4096)
        violations.string(settings.schedule_expression, "scheduleExpression", 0, 256)
        violations.string(settings.description, "description", 0, 512)
        violations.string(settings.role_arn, "roleArn", 1, 1600)
        state = _state(settings.state, violations)
        violations.raise_if_any()
        bus = await self._existing_bus(settings.event_bus)
        if not settings.event_pattern and not settings.schedule_expression:
            raise ValidationError(
                "Parameter(s) ScheduleExpression or EventPattern must be specified."
            )
        if settings.schedule_expression:
            if bus != DEFAULT_BUS:
                raise ValidationError(
                    "ScheduleExpression is supported only on the default event bus."
                )
            check_schedule_expression(settings.schedule_expression)
        if settings.event_pattern:
            compile_pattern(settings.event_pattern)
        row = RuleRow(
            region=self.region,
            event_bus=bus,
            name=settings.name,
            event_pattern=settings.event_pattern or None,
            schedule_expression=settings.schedule_expression or None,
            state=state.value,
            description=settings.description,
            role_arn=settings.role_arn,
            created_at=self._clock(),
        )
        kept = await run_sync(self.store.put_rule, row, MAX_RULES_PER_BUS)
        if kept is None:
            raise LimitExceeded(LIMIT_MESSAGE)
        rule = self.rule_of(kept)
        if bus == DEFAULT_BUS:
            await self._changed(rule.name, rule)
        return rule

    async def get_rule(self, name: str, bus_name: str | None) -> Rule:
        check_rule_name(name)
        bus = await self._existing_bus(bus_name)
        row = await run_sync(self.store.get_rule, self.region, bus, name)
        if row is None:
            raise rule_not_found(name, bus)
        return self.rule_of(row)

    async def set_state(self, name: str, bus_name: str | None, enabled: bool) -> None:
        rule = await self.get_rule(name, bus_name)
        state = RuleState.ENABLED if enabled else RuleState.DISABLED
        if not await run_sync(
            self.store.set_rule_state, self.region, rule.event_bus, name, state.value
        ):
            raise rule_not_found(name, rule.event_bus)
        if rule.event_bus == DEFAULT_BUS:
            await self._changed(name, replace(rule, state=state))

    async def list_rules(
        self, prefix: str | None, bus_name: str | None, token: str | None, limit: int | None
    ) -> Page:
        if prefix is not None:
            check_rule_name(prefix, "namePrefix")
        bus = await self._existing_bus(bus_name)
        after, size = _paging(token, limit)
        rows = await run_sync(
            self.store.list_rules, self.region, bus, prefix or "", after, size + 1
        )
        return _page([self.rule_of(r) for r in rows], size, lambda rule: rule.name)

    async def rule_names_by_target(
        self, arn: str, bus_name: str | None, token: str | None, limit: int | None
    ) -> Page:
        violations = Violations()
        violations.string(arn, "targetArn", 1, 1600)
        violations.raise_if_any()
        bus = await self._existing_bus(bus_name)
        after, size = _paging(token, limit)
        names = await run_sync(
            self.store.rule_names_by_target, self.region, bus, arn, after, size + 1
        )
        return _page(names, size, lambda name: name)

    async def delete_rule(self, name: str, bus_name: str | None, force: bool) -> None:
        check_rule_name(name)
        bus = await self._existing_bus(bus_name)
        if await run_sync(self.store.get_rule, self.region, bus, name) is None:
            return  # AWS: deleting a rule that is not there succeeds
        if not await run_sync(self.store.delete_rule, self.region, bus, name, force):
            raise ValidationError("Rule can't be deleted since it has targets.")
        if bus == DEFAULT_BUS:
            await self._changed(name, None)

    def rule_of(self, row: RuleRow) -> Rule:
        return Rule(
            name=row.name,
            arn=self.names.rule_arn(row.event_bus, row.name),
            event_bus=row.event_bus,
            event_pattern=row.event_pattern,
            schedule_expression=row.schedule_expression,
            state=RuleState(row.state),
            description=row.description,
            role_arn=row.role_arn,
        )

    # Targets

    async def put_targets(
        self, rule_name: str, bus_name: str | None, targets: Sequence[Target]
    ) -> list[Refusal]:
        """Add or replace targets; those lambdad cannot deliver to come back refused."""
        check_rule_name(rule_name, "rule")
        check_count(len(targets), "targets", 1, 100)
        for index, target in enumerate(targets):
            check_target(target, index)
        rule = await self.get_rule(rule_name, bus_name)
        refused = [r for t in targets if (r := deliverable(t, self.account))]
        ids = {r.target_id for r in refused}
        accepted = [t for t in targets if t.id not in ids]
        existing = await run_sync(self.store.list_targets, self.region, rule.event_bus, rule.name)
        if len({t.target_id for t in existing} | {t.id for t in accepted}) > MAX_TARGETS_PER_RULE:
            raise LimitExceeded(LIMIT_MESSAGE)
        now = self._clock()
        # Targets list in the order they were put (a microsecond apart within one call).
        rows = [
            TargetRow(
                self.region, rule.event_bus, rule.name, t.id, t.arn, _config(t), now + i / 1e6
            )
            for i, t in enumerate(accepted)
        ]
        await run_sync(self.store.put_targets, rows)
        return refused

    async def list_targets(
        self, rule_name: str, bus_name: str | None, token: str | None, limit: int | None
    ) -> Page:
        rule = await self.get_rule(rule_name, bus_name)
        rows = await run_sync(self.store.list_targets, self.region, rule.event_bus, rule.name)
        start = _token_offset(token)
        size = DEFAULT_PAGE if limit is None else limit
        chosen = rows[start : start + size]
        more = start + size < len(rows)
        next_token = _encode_token(str(start + size)) if more else None
        return Page([target_of(r) for r in chosen], next_token)

    async def remove_targets(
        self, rule_name: str, bus_name: str | None, ids: Sequence[str]
    ) -> None:
        check_count(len(ids), "ids", 1, 100)
        rule = await self.get_rule(rule_name, bus_name)
        await run_sync(self.store.remove_targets, self.region, rule.event_bus, rule.name, ids)


def target_of(row: TargetRow) -> Target:
    config = dict(row.config)
    transformer = config.pop("InputTransformer", None)
    return Target(
        id=row.target_id,
        arn=row.arn,
        input=config.pop("Input", None),
        input_path=config.pop("InputPath", None),
        input_transformer=None
        if transformer is None
        else InputTransformer(transformer["InputTemplate"], transformer.get("InputPathsMap")),
        extra=config,
    )


def _config(target: Target) -> dict[str, Any]:
    config: dict[str, Any] = dict(target.extra)
    if target.input is not None:
        config["Input"] = target.input
    if target.input_path is not None:
        config["InputPath"] = target.input_path
    if target.input_transformer is not None:
        transformer: dict[str, Any] = {"InputTemplate": target.input_transformer.input_template}
        if target.input_transformer.input_paths_map is not None:
            transformer["InputPathsMap"] = target.input_transformer.input_paths_map
        config["InputTransformer"] = transformer
    return config


def _state(value: str | None, violations: Violations) -> RuleState:
    if value is None:
        return RuleState.ENABLED
    try:
        return RuleState(value)
    except ValueError:
        allowed = ", ".join(s.value for s in RuleState)
        violations.add(value, "state", f"Member must satisfy enum value set: [{allowed}]")
        return RuleState.ENABLED


def _paging(token: str | None, limit: int | None) -> tuple[str | None, int]:
    after = None if token is None else _decode_token(token)
    return after, DEFAULT_PAGE if limit is None else limit


def _page(items: list[Any], size: int, key: Callable[[Any], str]) -> Page:
    if len(items) > size:
        return Page(items[:size], _encode_token(key(items[size - 1])))
    return Page(items, None)


def _encode_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValidationError("The NextToken is not valid.") from exc


def _token_offset(token: str | None) -> int:
    if token is None:
        return 0
    value = _decode_token(token)
    if not re.fullmatch(r"\d{1,9}", value):
        raise ValidationError("The NextToken is not valid.")
    return int(value)
