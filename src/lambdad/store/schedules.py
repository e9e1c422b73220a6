"""Rows of EventBridge Scheduler's schedule groups and schedules, per region.

A schedule's configuration (expression, target, window, dates, ...) is one JSON
document, as the API returns it; what is listed or filtered on has a column.
The `default` group of a region has no row: it always exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors
from lambdad.store.schema import schedule_groups, schedules


@dataclass(frozen=True)
class ScheduleGroupRow:
    region: str
    name: str
    creation_date: float
    last_modification_date: float
    tags: dict[str, str]


@dataclass(frozen=True)
class ScheduleRow:
    region: str
    group_name: str
    name: str
    state: str
    config: dict[str, Any]
    creation_date: float
    last_modification_date: float


class ScheduleStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Groups

    def create_group(self, row: ScheduleGroupRow) -> bool:
        """False when the region has a group of that name already."""
        return self._insert(schedule_groups, row.__dict__)

    def get_group(self, region: str, name: str) -> ScheduleGroupRow | None:
        with map_db_errors(), self.engine.connect() as conn:
            found = conn.execute(sa.select(schedule_groups).where(*_group(region, name))).first()
        return None if found is None else ScheduleGroupRow(**found._mapping)

    def list_groups(
        self, region: str, prefix: str | None, after: str | None, limit: int
    ) -> list[ScheduleGroupRow]:
        query = sa.select(schedule_groups).where(schedule_groups.c.region == region)
        if prefix:
            query = query.where(schedule_groups.c.name.startswith(prefix, autoescape=True))
        if after is not None:
            query = query.where(schedule_groups.c.name > after)
        query = query.order_by(schedule_groups.c.name).limit(limit)
        with map_db_errors(), self.engine.connect() as conn:
            return [ScheduleGroupRow(**r._mapping) for r in conn.execute(query)]

    def set_group_tags(self, region: str, name: str, tags: dict[str, str], now: float) -> bool:
        update = (
            sa.update(schedule_groups)
            .where(*_group(region, name))
            .values(tags=tags, last_modification_date=now)
        )
        with map_db_errors(), self.engine.begin() as conn:
            return bool(conn.execute(update).rowcount == 1)

    def delete_group(self, region: str, name: str) -> list[ScheduleRow] | None:
        """Delete a group and its schedules (returned); None when there is no such group."""
        in_group = (schedules.c.region == region, schedules.c.group_name == name)
        with map_db_errors(), self.engine.begin() as conn:
            if conn.execute(sa.delete(schedule_groups).where(*_group(region, name))).rowcount != 1:
                return None
            rows = [
                ScheduleRow(**r._mapping)
                for r in conn.execute(sa.select(schedules).where(*in_group))
            ]
            conn.execute(sa.delete(schedules).where(*in_group))
        return rows

    # Schedules

    def create(self, row: ScheduleRow) -> bool:
        """False when the group has a schedule of that name already."""
        return self._insert(schedules, row.__dict__)

    def get(self, region: str, group_name: str, name: str) -> ScheduleRow | None:
        with map_db_errors(), self.engine.connect() as conn:
            found = conn.execute(
                sa.select(schedules).where(*_schedule(region, group_name, name))
            ).first()
        return None if found is None else ScheduleRow(**found._mapping)

    def replace(self, row: ScheduleRow) -> bool:
        """Store a changed schedule; False when it was deleted meanwhile."""
        update = (
            sa.update(schedules)
            .where(*_schedule(row.region, row.group_name, row.name))
            .values(
                state=row.state,
                config=row.config,
                last_modification_date=row.last_modification_date,
            )
        )
        with map_db_errors(), self.engine.begin() as conn:
            return bool(conn.execute(update).rowcount == 1)

    def delete(self, region: str, group_name: str, name: str) -> bool:
        with map_db_errors(), self.engine.begin() as conn:
            return bool(
                conn.execute(
                    sa.delete(schedules).where(*_schedule(region, group_name, name))
                ).rowcount
                == 1
            )

    def page(
        self,
        region: str,
        group_name: str | None,
        prefix: str | None,
        state: str | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[ScheduleRow]:
        """Schedules in (group, name) order, after the (group, name) a page ended at."""
        query = sa.select(schedules).where(schedules.c.region == region)
        if group_name is not None:
            query = query.where(schedules.c.group_name == group_name)
        if prefix:
            query = query.where(schedules.c.name.startswith(prefix, autoescape=True))
        if state is not None:
            query = query.where(schedules.c.state == state)
        if after is not None:
            group_name_after, name_after = after
            query = query.where(
                sa.or_(
                    schedules.c.group_name > group_name_after,
                    sa.and_(
                        schedules.c.group_name == group_name_after, schedules.c.name > name_after
                    ),
                )
            )
        query = query.order_by(schedules.c.group_name, schedules.c.name).limit(limit)
        with map_db_errors(), self.engine.connect() as conn:
            return [ScheduleRow(**r._mapping) for r in conn.execute(query)]

    def _insert(self, table: sa.Table, values: dict[str, Any]) -> bool:
        """Insert a row; False when its key is taken (the primary key decides, so two
        servers creating one name at once cannot both succeed)."""
        with map_db_errors():
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.insert(table).values(**values))
            except sa.exc.IntegrityError:
                return False
        return True

    def every(self) -> list[ScheduleRow]:
        """Every schedule of every region (the server's startup check)."""
        with map_db_errors(), self.engine.connect() as conn:
            return [ScheduleRow(**r._mapping) for r in conn.execute(sa.select(schedules))]


def _group(region: str, name: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (schedule_groups.c.region == region, schedule_groups.c.name == name)


def _schedule(region: str, group_name: str, name: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        schedules.c.region == region,
        schedules.c.group_name == group_name,
        schedules.c.name == name,
    )
