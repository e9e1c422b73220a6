"""Rows of the durable timers and of their claimed ticks (the ticker's outbox).

A tick is claimed by a compare-and-swap on the timer's `revision`: the update that
moves the timer to its next tick and the insert of the fire row are one commit, so of
two servers on one database (or a server and its restart) exactly one claims a tick,
and a claimed tick is never lost before its callback took it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors, reading
from lambdad.store.schema import timer_fires, timers


@dataclass(frozen=True)
class TimerRow:
    owner_kind: str
    owner_id: str
    expression: str
    timezone: str | None
    anchor: float
    end_at: float | None
    window_s: int
    grace_s: float
    retry_attempts: int
    next_tick_at: float | None
    next_fire_at: float | None
    revision: str = ""


@dataclass(frozen=True)
class FireRow:
    id: str
    owner_kind: str
    owner_id: str
    tick_at: float
    last: int
    attempts: int
    lease_until: float


class TimerStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, row: TimerRow) -> TimerRow:
        """Create or replace the owner's timer; a tick claimed before stays claimed."""
        row = replace(row, revision=str(uuid.uuid4()))
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(sa.delete(timers).where(*_owner(row.owner_kind, row.owner_id)))
            conn.execute(sa.insert(timers).values(**row.__dict__))
        return row

    def remove(self, owner_kind: str, owner_id: str) -> None:
        """Drop the timer and its undelivered ticks (their owner is gone)."""
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(sa.delete(timers).where(*_owner(owner_kind, owner_id)))
            conn.execute(
                sa.delete(timer_fires).where(
                    timer_fires.c.owner_kind == owner_kind, timer_fires.c.owner_id == owner_id
                )
            )

    def get(self, owner_kind: str, owner_id: str) -> TimerRow | None:
        query = sa.select(timers).where(*_owner(owner_kind, owner_id))
        with map_db_errors(), self.engine.connect() as conn:
            found = conn.execute(query).first()
        return None if found is None else TimerRow(**found._mapping)

    def due(self, now: float, limit: int) -> list[TimerRow]:
        query = (
            sa.select(timers)
            .where(timers.c.next_fire_at <= now)
            .order_by(timers.c.next_fire_at)
            .limit(limit)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [TimerRow(**r._mapping) for r in conn.execute(query)]

    def next_fire_at(self) -> float | None:
        """The earliest moment anything is due: a timer's fire or a fire's lease end."""
        with map_db_errors(), reading(self.engine) as conn:
            times = [
                conn.execute(sa.select(sa.func.min(timers.c.next_fire_at))).scalar(),
                conn.execute(sa.select(sa.func.min(timer_fires.c.lease_until))).scalar(),
            ]
        found = [float(t) for t in times if t is not None]
        return min(found) if found else None

    def claim(
        self,
        timer: TimerRow,
        next_tick_at: float | None,
        next_fire_at: float | None,
        fire: FireRow | None,
    ) -> bool:
        """Move `timer` on to its next tick and record `fire`, if nobody did since it was
        read; False when another claimer (or a `put`) came first."""
        update = (
            sa.update(timers)
            .where(*_owner(timer.owner_kind, timer.owner_id), timers.c.revision == timer.revision)
            .values(
                next_tick_at=next_tick_at,
                next_fire_at=next_fire_at,
                revision=str(uuid.uuid4()),
            )
        )
        with map_db_errors(), self.engine.begin() as conn:
            if conn.execute(update).rowcount != 1:
                return False
            if fire is not None:
                conn.execute(sa.insert(timer_fires).values(**fire.__dict__))
        return True

    def fires_due(self, now: float, limit: int) -> list[FireRow]:
        """Claimed ticks whose delivery lease ended (a crash, or a retry's wait)."""
        query = (
            sa.select(timer_fires)
            .where(timer_fires.c.lease_until <= now)
            .order_by(timer_fires.c.lease_until)
            .limit(limit)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [FireRow(**r._mapping) for r in conn.execute(query)]

    def lease(self, fire: FireRow, until: float, attempts: int) -> bool:
        """Take `fire` for delivery until `until`, if nobody took it since it was read."""
        update = (
            sa.update(timer_fires)
            .where(timer_fires.c.id == fire.id, timer_fires.c.lease_until == fire.lease_until)
            .values(lease_until=until, attempts=attempts)
        )
        with map_db_errors(), self.engine.begin() as conn:
            return bool(conn.execute(update).rowcount == 1)

    def delivered(self, fire_id: str) -> None:
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(sa.delete(timer_fires).where(timer_fires.c.id == fire_id))

    def pending_fires(self, owner_kind: str, owner_id: str) -> list[FireRow]:
        query = sa.select(timer_fires).where(
            timer_fires.c.owner_kind == owner_kind, timer_fires.c.owner_id == owner_id
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [FireRow(**r._mapping) for r in conn.execute(query)]


def _owner(owner_kind: str, owner_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (timers.c.owner_kind == owner_kind, timers.c.owner_id == owner_id)
