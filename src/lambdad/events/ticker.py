"""Durable timers: each tick of a schedule fires exactly once, also across restarts
and with several servers on one database.

A timer belongs to an owner (`owner_kind`, `owner_id`: a Scheduler schedule, an
EventBridge rule) and holds its expression, time zone, start/end and its next tick.
The loop claims due timers with a compare-and-swap in the store (the claim that moves
a timer on and the record of the tick, a fire row, are one commit), then hands each
fire to the callback registered for the owner's kind, and deletes the fire row once
the callback returned. A callback that raises is retried (1 s, 2 s, 4 s, … up to a
minute) up to the timer's retry attempts and within its grace; `DropFire` ends it at
once. A crash between claim and delivery leaves the fire row, which is delivered
after its lease (`LEASE_S`); callbacks therefore get `Fire.id`, stable across such a
retry, to make their effect idempotent (the scheduler uses it as the async event's
request id).

Missed ticks (the policy, also in the README): a tick whose fire time passed more
than `MISSED_AFTER_S` ago was missed (the server was down). Of a timer's missed
ticks only the most recent fires, once and late, and only if it is younger than the
timer's grace (by default 24 hours, EventBridge Scheduler's default maximum event
age); older ones are skipped and logged. Then the timer goes on with its first tick
after now. This is what cron users know as anacron's "run once on wake".

Fire times: a tick fires at its time plus an offset in the timer's flexible window
(deterministic per owner and tick, so every server computes the same), and the loop
sleeps until the earliest fire time, so ticks fire within a second (the loop also
looks every `POLL_INTERVAL_S` for timers other servers changed).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import anyio

from lambdad.concurrency import run_sync
from lambdad.events.schedule_expressions import next_fire, parse, timezone
from lambdad.store import FireRow, TimerRow, TimerStore

log = logging.getLogger(__name__)

Clock = Callable[[], float]

POLL_INTERVAL_S = 1.0
BATCH = 64
LEASE_S = 30.0
"""How long a claimed tick is left to its claimer before another server delivers it."""
MISSED_AFTER_S = 60.0
DEFAULT_GRACE_S = 86400.0
DEFAULT_RETRY_ATTEMPTS = 185
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class TimerSpec:
    """When an owner's timer ticks. Times are epoch seconds in the ticker's clock."""

    expression: str  # rate(...), cron(...) or at(...)
    timezone: str | None = None  # IANA name; UTC when None
    start_at: float | None = None
    end_at: float | None = None  # exclusive: no tick at or after it
    window_s: int = 0  # flexible time window
    grace_s: float = DEFAULT_GRACE_S
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    rate_fires_at_start: bool = True
    """A rate's first tick is its start (Scheduler); False: one period after it (rules)."""


@dataclass(frozen=True)
class Fire:
    """One tick handed to an owner's callback."""

    id: str  # the same on every delivery attempt of this tick
    owner_kind: str
    owner_id: str
    tick_at: float  # the scheduled time (before the flexible window's offset)
    attempt: int  # 1 on the first delivery
    last: bool  # the timer has no tick after this one (an at(...), or its end)


class DropFire(Exception):
    """Raised by a callback: this tick cannot be delivered, do not retry it."""


Callback = Callable[[Fire], Awaitable[None]]


@dataclass(frozen=True)
class Plan:
    """What a claim of a due timer does: fire one tick (or none), and the next tick."""

    fire_tick: float | None
    next_tick: float | None
    skipped: int = 0


class Ticker:
    def __init__(self, store: TimerStore, clock: Clock = time.time, speed: float = 1.0) -> None:
        """`clock` is the ticker's time (a test may run it `speed` times faster than
        real time, so sleeps are divided by `speed`)."""
        self.store = store
        self._clock = clock
        self._speed = speed
        self._callbacks: dict[str, Callback] = {}
        self._wake = anyio.Event()

    def now(self) -> float:
        return self._clock()

    def on_fire(self, owner_kind: str, callback: Callback) -> None:
        """Register the callback for an owner kind (one per kind)."""
        self._callbacks[owner_kind] = callback

    async def put(
        self, owner_kind: str, owner_id: str, spec: TimerSpec, enabled: bool = True
    ) -> float | None:
        """Create or replace an owner's timer; returns its first tick (None: none left,
        or disabled). Raises `InvalidScheduleExpression` / `InvalidTimezone`."""
        now = self._clock()
        # The start as the datetime arithmetic sees it (whole microseconds), read once:
        # the first tick and the anchor later ticks count from must be the same instant.
        start = _at(spec.start_at if spec.start_at is not None else now).timestamp()
        first = first_tick(replace(spec, start_at=start), now) if enabled else None
        row = TimerRow(
            owner_kind=owner_kind,
            owner_id=owner_id,
            expression=spec.expression,
            timezone=spec.timezone,
            anchor=start,
            end_at=spec.end_at,
            window_s=spec.window_s,
            grace_s=spec.grace_s,
            retry_attempts=spec.retry_attempts,
            next_tick_at=first,
            next_fire_at=None
            if first is None
            else fire_time(owner_kind, owner_id, first, spec.window_s),
        )
        await run_sync(self.store.put, row)
        self._wake.set()
        return first

    async def remove(self, owner_kind: str, owner_id: str) -> None:
        await run_sync(self.store.remove, owner_kind, owner_id)

    async def run(self) -> None:
        """The loop: claim and deliver what is due, sleep until the next fire time."""
        while True:
            try:
                await self.tick()
                await self._sleep_until_next()
            except Exception:
                log.exception("ticker: pass failed")
                await anyio.sleep(POLL_INTERVAL_S)

    async def tick(self) -> int:
        """One pass: claim due timers and deliver their fires, and deliver fires whose
        lease ended. Returns how many fires were delivered or tried."""
        now = self._clock()
        fires = [
            fire
            for timer in await run_sync(self.store.due, now, BATCH)
            if (fire := await self._claim(timer, now))
        ]
        for row in await run_sync(self.store.fires_due, now, BATCH):
            if leased := await self._lease(row, now):
                fires.append(leased)
        async with anyio.create_task_group() as deliveries:
            for fire in fires:
                deliveries.start_soon(self._deliver, fire)
        return len(fires)

    async def _claim(self, timer: TimerRow, now: float) -> FireRow | None:
        # Late by a minute of real time, however fast a test runs the clock.
        plan = plan_claim(timer, now, MISSED_AFTER_S * self._speed)
        fire = None
        if plan.fire_tick is not None:
            fire = FireRow(
                id=str(uuid.uuid4()),
                owner_kind=timer.owner_kind,
                owner_id=timer.owner_id,
                tick_at=plan.fire_tick,
                last=int(plan.next_tick is None),
                attempts=1,
                lease_until=now + LEASE_S,
            )
        next_fire_at = (
            None
            if plan.next_tick is None
            else fire_time(timer.owner_kind, timer.owner_id, plan.next_tick, timer.window_s)
        )
        if not await run_sync(self.store.claim, timer, plan.next_tick, next_fire_at, fire):
            return None  # another server (or a put) came first
        if plan.skipped:
            log.warning(
                "timer %s/%s: %d missed tick(s) skipped (only the most recent within its "
                "grace of %.0f s fires)",
                timer.owner_kind,
                timer.owner_id,
                plan.skipped,
                timer.grace_s,
            )
        return fire

    async def _lease(self, fire: FireRow, now: float) -> FireRow | None:
        """Take a fire whose lease ended (a retry's wait, or its claimer's crash)."""
        leased = replace(fire, lease_until=now + LEASE_S, attempts=fire.attempts + 1)
        taken = await run_sync(self.store.lease, fire, leased.lease_until, leased.attempts)
        return leased if taken else None

    async def _deliver(self, row: FireRow) -> None:
        fire = Fire(row.id, row.owner_kind, row.owner_id, row.tick_at, row.attempts, bool(row.last))
        callback = self._callbacks.get(row.owner_kind)
        try:
            if callback is None:
                raise DropFire(f"no callback for timers of kind {row.owner_kind!r}")
            await callback(fire)
        except DropFire as exc:
            log.warning("timer %s/%s: tick dropped: %s", row.owner_kind, row.owner_id, exc)
        except Exception:
            log.exception(
                "timer %s/%s: delivery attempt %d failed",
                row.owner_kind,
                row.owner_id,
                row.attempts,
            )
            await self._retry_later(row)
            return
        await run_sync(self.store.delivered, row.id)

    async def _retry_later(self, row: FireRow) -> None:
        timer = await run_sync(self.store.get, row.owner_kind, row.owner_id)
        now = self._clock()
        if (
            timer is None
            or row.attempts > timer.retry_attempts
            or now - row.tick_at > timer.grace_s
        ):
            log.warning(
                "timer %s/%s: tick of %s given up", row.owner_kind, row.owner_id, _iso(row.tick_at)
            )
            await run_sync(self.store.delivered, row.id)
            return
        wait = min(MAX_BACKOFF_S, 2.0 ** (row.attempts - 1))
        await run_sync(self.store.lease, row, now + wait, row.attempts)

    async def _sleep_until_next(self) -> None:
        next_at = await run_sync(self.store.next_fire_at)
        wait = (
            POLL_INTERVAL_S if next_at is None else max(0.0, next_at - self._clock()) / self._speed
        )
        self._wake = anyio.Event()
        with anyio.move_on_after(min(POLL_INTERVAL_S, wait)):
            await self._wake.wait()


def first_tick(spec: TimerSpec, now: float) -> float | None:
    """The first tick of a new (or changed) timer: at or after its start and now.
    Raises `InvalidScheduleExpression` / `InvalidTimezone`."""
    expression = parse(spec.expression, allow_at=True)
    zone = timezone(spec.timezone)
    start = spec.start_at if spec.start_at is not None else now
    after = max(now, start)
    if spec.rate_fires_at_start or not spec.expression.startswith("rate("):
        after -= 0.001  # a tick right at the start (or now) counts
    tick = next_fire(expression, _at(after), zone, _at(start))
    return _within(tick, spec.end_at)


def plan_claim(timer: TimerRow, now: float, missed_after_s: float = MISSED_AFTER_S) -> Plan:
    """Which tick a claim of `timer` (due at `now`) fires, and its next tick; a tick
    whose fire time passed more than `missed_after_s` ago was missed."""
    assert timer.next_tick_at is not None
    expression = parse(timer.expression, allow_at=True)
    zone = timezone(timer.timezone)

    def after(t: float) -> float | None:
        """The first tick later than `t` (never `t` again, whatever the rounding)."""
        found = _within(next_fire(expression, _at(t), zone, _at(timer.anchor)), timer.end_at)
        if found is not None and found <= t:
            found = _within(
                next_fire(expression, _at(t + 0.001), zone, _at(timer.anchor)), timer.end_at
            )
        return found

    tick = timer.next_tick_at
    fire_at = timer.next_fire_at if timer.next_fire_at is not None else tick
    if now - fire_at <= missed_after_s:
        return Plan(fire_tick=tick, next_tick=after(tick))
    # Missed: find the most recent tick up to now, looking back no further than the grace.
    skipped = 0
    if now - tick > timer.grace_s:
        later = after(max(tick, now - timer.grace_s - 0.001))
        if later is None or later > now:
            return Plan(fire_tick=None, next_tick=later, skipped=1)
        tick, skipped = later, 1
    while (later := after(tick)) is not None and later <= now:
        tick, skipped = later, skipped + 1
    return Plan(fire_tick=tick, next_tick=later, skipped=skipped)


def fire_time(owner_kind: str, owner_id: str, tick: float, window_s: int) -> float:
    """The tick plus a deterministic pseudo-random offset within the flexible window."""
    if window_s <= 0:
        return tick
    digest = hashlib.sha256(f"{owner_kind}\0{owner_id}\0{tick:.3f}".encode()).digest()
    return tick + int.from_bytes(digest[:8], "big") / 2**64 * window_s


def _within(tick: datetime | None, end_at: float | None) -> float | None:
    if tick is None:
        return None
    at = tick.timestamp()
    return None if end_at is not None and at >= end_at else at


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _iso(epoch: float) -> str:
    return _at(epoch).isoformat(timespec="seconds")
