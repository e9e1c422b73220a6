"""Rows of the event bus: buses, rules and targets, each keyed by region.

A bus's delete takes its rules and their targets along; a rule's delete takes
its targets (the service refuses one that still has targets unless forced,
as AWS does). Every method is blocking: callers run it through `run_sync`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lambdad.store.database import map_db_errors
from lambdad.store.schema import event_buses, event_rules, event_targets


@dataclass(frozen=True)
class BusRow:
    region: str
    name: str
    description: str | None
    created_at: float
    last_modified: float


@dataclass(frozen=True)
class RuleRow:
    region: str
    event_bus: str
    name: str
    event_pattern: str | None
    schedule_expression: str | None
    state: str
    description: str | None
    role_arn: str | None
    created_at: float


@dataclass(frozen=True)
class TargetRow:
    region: str
    event_bus: str
    rule: str
    target_id: str
    arn: str
    config: dict[str, Any]
    """The Target members besides Id and Arn (Input, InputPath, InputTransformer, ...)."""
    added_at: float


class EventBusStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Buses

    def get_bus(self, region: str, name: str) -> BusRow | None:
        query = sa.select(event_buses).where(
            event_buses.c.region == region, event_buses.c.name == name
        )
        with map_db_errors(), self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else BusRow(**row._mapping)

    def count_buses(self, region: str) -> int:
        query = sa.select(sa.func.count()).select_from(event_buses)
        with map_db_errors(), self.engine.connect() as conn:
            return int(conn.execute(query.where(event_buses.c.region == region)).scalar_one())

    def create_bus(self, row: BusRow) -> bool:
        """Insert `row`; False if the region has a bus of that name."""
        with map_db_errors():
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.insert(event_buses).values(**row.__dict__))
            except sa.exc.IntegrityError:
                return False
        return True

    def list_buses(self, region: str, prefix: str, after: str | None, limit: int) -> list[BusRow]:
        """Up to `limit` buses by name, those whose name starts with `prefix`, after `after`."""
        query = sa.select(event_buses).where(event_buses.c.region == region)
        query = _page(query, event_buses.c.name, prefix, after, limit)
        with map_db_errors(), self.engine.connect() as conn:
            return [BusRow(**r._mapping) for r in conn.execute(query)]

    def delete_bus(self, region: str, name: str) -> None:
        """Delete the bus with its rules and their targets (nothing if there is none)."""
        with map_db_errors(), self.engine.begin() as conn:
            for table, column in (
                (event_targets, event_targets.c.event_bus),
                (event_rules, event_rules.c.event_bus),
                (event_buses, event_buses.c.name),
            ):
                conn.execute(sa.delete(table).where(table.c.region == region, column == name))

    # Rules

    def get_rule(self, region: str, bus: str, name: str) -> RuleRow | None:
        with map_db_errors(), self.engine.connect() as conn:
            row = conn.execute(sa.select(event_rules).where(*_rule_key(region, bus, name))).first()
        return None if row is None else RuleRow(**row._mapping)

    def put_rule(self, row: RuleRow, most: int) -> RuleRow | None:
        """Create the rule, or replace its settings (its creation time stays); the row
        kept. None: a new rule, and its bus has `most` rules already."""
        with map_db_errors(), self.engine.begin() as conn:
            key = _rule_key(row.region, row.event_bus, row.name)
            existing = conn.execute(sa.select(event_rules.c.created_at).where(*key)).first()
            if existing is None:
                count = sa.select(sa.func.count()).select_from(event_rules)
                on_bus = (
                    event_rules.c.region == row.region,
                    event_rules.c.event_bus == row.event_bus,
                )
                if conn.execute(count.where(*on_bus)).scalar_one() >= most:
                    return None
                conn.execute(sa.insert(event_rules).values(**row.__dict__))
                return row
            kept = replace(row, created_at=existing.created_at)
            values = {k: v for k, v in kept.__dict__.items() if k not in ("region", "name")}
            conn.execute(sa.update(event_rules).where(*key).values(**values))
            return kept

    def set_rule_state(self, region: str, bus: str, name: str, state: str) -> bool:
        query = sa.update(event_rules).where(*_rule_key(region, bus, name)).values(state=state)
        with map_db_errors(), self.engine.begin() as conn:
            return bool(conn.execute(query).rowcount == 1)

    def list_rules(
        self, region: str, bus: str, prefix: str, after: str | None, limit: int
    ) -> list[RuleRow]:
        query = sa.select(event_rules).where(
            event_rules.c.region == region, event_rules.c.event_bus == bus
        )
        query = _page(query, event_rules.c.name, prefix, after, limit)
        with map_db_errors(), self.engine.connect() as conn:
            return [RuleRow(**r._mapping) for r in conn.execute(query)]

    def delete_rule(self, region: str, bus: str, name: str, force: bool) -> bool:
        """Delete the rule (with its targets when `force`); False if targets keep it."""
        with map_db_errors(), self.engine.begin() as conn:
            if _target_count(conn, region, bus, name) and not force:
                return False
            conn.execute(sa.delete(event_targets).where(*_targets_of(region, bus, name)))
            conn.execute(sa.delete(event_rules).where(*_rule_key(region, bus, name)))
        return True

    # Targets

    def list_targets(self, region: str, bus: str, rule: str) -> list[TargetRow]:
        query = (
            sa.select(event_targets)
            .where(*_targets_of(region, bus, rule))
            .order_by(event_targets.c.added_at, event_targets.c.target_id)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [TargetRow(**r._mapping) for r in conn.execute(query)]

    def put_targets(self, rows: Iterable[TargetRow]) -> None:
        """Add the targets, or replace those with the same id (which keep their place)."""
        with map_db_errors(), self.engine.begin() as conn:
            for row in rows:
                key = (*_targets_of(row.region, row.event_bus, row.rule),)
                key += (event_targets.c.target_id == row.target_id,)
                update = sa.update(event_targets).where(*key)
                changed = conn.execute(update.values(arn=row.arn, config=row.config))
                if changed.rowcount == 0:
                    conn.execute(sa.insert(event_targets).values(**row.__dict__))

    def count_targets(self, region: str, bus: str, rule: str) -> int:
        with map_db_errors(), self.engine.connect() as conn:
            return _target_count(conn, region, bus, rule)

    def remove_targets(self, region: str, bus: str, rule: str, ids: Iterable[str]) -> None:
        query = sa.delete(event_targets).where(
            *_targets_of(region, bus, rule), event_targets.c.target_id.in_(list(ids))
        )
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(query)

    def rule_names_by_target(
        self, region: str, bus: str, arn: str, after: str | None, limit: int
    ) -> list[str]:
        """Names of the bus's rules that have a target of `arn`, by name, after `after`."""
        name = event_targets.c.rule
        query = (
            sa.select(name)
            .distinct()
            .where(
                event_targets.c.region == region,
                event_targets.c.event_bus == bus,
                event_targets.c.arn == arn,
            )
        )
        if after is not None:
            query = query.where(name > after)
        with map_db_errors(), self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query.order_by(name).limit(limit))]

    def enabled_rules(self, region: str, bus: str) -> list[tuple[RuleRow, list[TargetRow]]]:
        """The enabled rules of a bus that have a pattern, each with its targets."""
        rules_query = sa.select(event_rules).where(
            event_rules.c.region == region,
            event_rules.c.event_bus == bus,
            event_rules.c.state != "DISABLED",
            event_rules.c.event_pattern.is_not(None),
        )
        targets_query = (
            sa.select(event_targets)
            .where(event_targets.c.region == region, event_targets.c.event_bus == bus)
            .order_by(event_targets.c.added_at, event_targets.c.target_id)
        )
        with map_db_errors(), self.engine.connect() as conn:
            rules = [RuleRow(**r._mapping) for r in conn.execute(rules_query)]
            targets = [TargetRow(**r._mapping) for r in conn.execute(targets_query)]
        by_rule: dict[str, list[TargetRow]] = {}
        for target in targets:
            by_rule.setdefault(target.rule, []).append(target)
        return [(rule, by_rule.get(rule.name, [])) for rule in rules]


def _rule_key(region: str, bus: str, name: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        event_rules.c.region == region,
        event_rules.c.event_bus == bus,
        event_rules.c.name == name,
    )


def _targets_of(region: str, bus: str, rule: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        event_targets.c.region == region,
        event_targets.c.event_bus == bus,
        event_targets.c.rule == rule,
    )


def _target_count(conn: Connection, region: str, bus: str, rule: str) -> int:
    query = sa.select(sa.func.count()).select_from(event_targets)
    return int(conn.execute(query.where(*_targets_of(region, bus, rule))).scalar_one())


def _page(
    query: sa.Select[Any], name: sa.ColumnElement[str], prefix: str, after: str | None, limit: int
) -> sa.Select[Any]:
    """Rows by name: those starting with `prefix`, after `after`, at most `limit`."""
    if prefix:
        # Not LIKE: SQLite's is case-insensitive, and AWS's NamePrefix is not.
        query = query.where(sa.func.substr(name, 1, len(prefix)) == prefix)
    if after is not None:
        query = query.where(name > after)
    return query.order_by(name).limit(limit)
