"""The durable ticker on a real database with a fake clock: every tick fires exactly
once (two claimers racing, a restart, a crash between claim and delivery), missed
ticks follow the documented policy, and failed deliveries are retried."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import anyio
import pytest
import sqlalchemy as sa

from lambdad.events import DropFire, Fire, Ticker, TimerSpec
from lambdad.events.ticker import LEASE_S, fire_time, plan_claim
from lambdad.store import FireRow, TimerStore, create_engine

pytestmark = pytest.mark.anyio

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC).timestamp()  # a Monday, 09:00 UTC
KIND = "test"


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A callback that records each fire (by tick) it was handed."""

    def __init__(self) -> None:
        self.fires: list[Fire] = []
        self.fail_next = 0

    async def __call__(self, fire: Fire) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("target unavailable")
        self.fires.append(fire)

    @property
    def ticks(self) -> list[float]:
        return [f.tick_at - T0 for f in self.fires]


def ticker(engine: sa.Engine, clock: FakeClock, recorder: Recorder) -> Ticker:
    found = Ticker(TimerStore(engine), clock)
    found.on_fire(KIND, recorder)
    return found


async def test_a_rate_fires_once_per_tick(engine: sa.Engine) -> None:
    clock, recorder = FakeClock(), Recorder()
    ticks = ticker(engine, clock, recorder)
    assert await ticks.put(KIND, "every-minute", TimerSpec("rate(1 minute)")) == T0
    for second in range(0, 5 * 60 + 1, 10):
        clock.now = T0 + second
        await ticks.tick()
        await ticks.tick()  # a second pass at the same moment finds nothing
    assert recorder.ticks == [0, 60, 120, 180, 240, 300]
    assert all(f.attempt == 1 and not f.last for f in recorder.fires)
    assert len({f.id for f in recorder.fires}) == 6


async def test_ticks_fire_on_time(engine: sa.Engine) -> None:
    clock, recorder = FakeClock(), Recorder()
    ticks = ticker(engine, clock, recorder)
    await ticks.put(KIND, "cron", TimerSpec("cron(0/15 * * * ? *)"))
    clock.now = T0 + 15 * 60 - 0.001
    assert await ticks.tick() == 1  # 09:00 itself
    assert await ticks.tick() == 0
    clock.now = T0 + 15 * 60
    assert await ticks.tick() == 1
    assert recorder.ticks == [0, 900]


async def test_two_claimers_racing_fire_each_tick_once(engine: sa.Engine) -> None:
    other_engine = create_engine(str(engine.url.render_as_string(hide_password=False)))
    try:
        clock, recorder = FakeClock(), Recorder()
        first = ticker(engine, clock, recorder)
        second = ticker(other_engine, clock, recorder)
        for n in range(5):
            await first.put(KIND, f"timer-{n}", TimerSpec("rate(1 minute)"))
        for minute in range(10):
            clock.now = T0 + minute * 60
            async with anyio.create_task_group() as group:
                for claimer in (first, second, first, second):
                    group.start_soon(claimer.tick)
        per_timer = Counter((f.owner_id, f.tick_at) for f in recorder.fires)
        assert len(per_timer) == 50
        assert set(per_timer.values()) == {1}
    finally:
        other_engine.dispose()


async def test_a_restart_does_not_fire_a_tick_again(engine: sa.Engine) -> None:
    clock, recorder = FakeClock(), Recorder()
    before = ticker(engine, clock, recorder)
    await before.put(KIND, "t", TimerSpec("rate(5 minutes)"))
    await before.tick()
    after = ticker(engine, clock, recorder)  # a new server on the same database
    assert await after.tick() == 0
    clock.now = T0 + 300
    assert await after.tick() == 1
    assert recorder.ticks == [0, 300]


async def test_a_crash_between_claim_and_delivery_delivers_once_after_the_lease(
    engine: sa.Engine,
) -> None:
    clock, recorder = FakeClock(), Recorder()
    store = TimerStore(engine)
    crashed = Ticker(store, clock)
    await crashed.put(KIND, "t", TimerSpec("rate(1 hour)"))
    # The claim commits, then the server dies before its callback runs.
    timer = store.get(KIND, "t")
    assert timer is not None
    plan = plan_claim(timer, clock.now)
    fire = FireRow("fire-1", KIND, "t", T0, 0, 1, clock.now + LEASE_S)
    assert store.claim(timer, plan.next_tick, plan.next_tick, fire)

    restarted = ticker(engine, clock, recorder)
    assert await restarted.tick() == 0  # the lease still stands
    clock.now = T0 + LEASE_S
    assert await restarted.tick() == 1
    assert await restarted.tick() == 0
    assert [(f.id, f.tick_at, f.attempt) for f in recorder.fires] == [("fire-1", T0, 2)]


async def test_missed_ticks_fire_once_for_the_most_recent(engine: sa.Engine) -> None:
    clock, recorder = FakeClock(), Recorder()
    ticks = ticker(engine, clock, recorder)
    await ticks.put(KIND, "t", TimerSpec("rate(1 minute)"))
    await ticks.tick()
    clock.now = T0 + 10 * 60 + 30  # down for ten minutes
    assert await ticks.tick() == 1
    assert await ticks.tick() == 0
    clock.now = T0 + 11 * 60
    await ticks.tick()
    assert recorder.ticks == [0, 600, 660]


async def test_missed_ticks_older_than_the_grace_are_skipped(engine: sa.Engine) -> None:
    clock, recorder = FakeClock(), Recorder()
    ticks = ticker(engine, clock, recorder)
    # Daily at 09:00; the server is down from Monday 09:00 for two days and an hour.
    await ticks.put(KIND, "daily", TimerSpec("cron(0 9 * * ? *)", grace_s=3600))
    await ticks.tick()
    clock.now = T0 + 2 * 86400 + 2 * 3600
    assert await ticks.tick() == 0
    clock.now = T0 + 3 * 86400
    assert await ticks.tick() == 1
    assert recorder.ticks == [0, 3 * 86400]


async def test_an_at_schedule_fires_once_as_its_last(engine: sa.Engine) -> None:
    clock, recorder = FakeClock(), Recorder()
    ticks = ticker(engine, clock, recorder)
    first = await ticks.put(KIND, "once", TimerSpec("at(2027-01-04T10:30:00)", "Europe/Paris"))
    assert first == T0 + 30 * 60
    clock.now = T0 + 3600
    assert await ticks.tick() == 1
    clock.now = T0 + 86400
    assert await ticks.tick() == 0
    assert [f.last for f in recorder.fires] == [True]
    timer = TimerStore(engine).get(KIND, "once")
    assert timer is not None and timer.next_tick_at is None


async def test_start_and_end_dates_bound_the_ticks(engine: sa.Engine) -> None:
    clock, recorder = FakeClock(), Recorder()
    ticks = ticker(engine, clock, recorder)
    spec = TimerSpec("rate(10 minutes)", start_at=T0 + 300, end_at=T0 + 300 + 1800)
    assert await ticks.put(KIND, "t", spec) == T0 + 300
    for minute in range(0, 60):
        clock.now = T0 + minute * 60
        await ticks.tick()
    assert recorder.ticks == [300, 900, 1500]
    assert [f.last for f in recorder.fires] == [False, False, True]


async def test_a_failed_delivery_is_retried_with_the_same_id(engine: sa.Engine) -> None:
    clock, recorder = FakeClock(), Recorder()
    ticks = ticker(engine, clock, recorder)
    await ticks.put(KIND, "t", TimerSpec("rate(1 hour)"))
    recorder.fail_next = 2
    assert await ticks.tick() == 1  # fails; waits 1 s
    assert await ticks.tick() == 0
    clock.now += 1
    assert await ticks.tick() == 1  # fails; waits 2 s
    clock.now += 1
    assert await ticks.tick() == 0
    clock.now += 1
    assert await ticks.tick() == 1
    assert [(f.tick_at, f.attempt) for f in recorder.fires] == [(T0, 3)]


async def test_retries_end_at_the_timers_retry_attempts(engine: sa.Engine) -> None:
    clock, recorder = FakeClock(), Recorder()
    ticks = ticker(engine, clock, recorder)
    await ticks.put(KIND, "t", TimerSpec("rate(1 hour)", retry_attempts=1))
    recorder.fail_next = 5
    await ticks.tick()
    clock.now += 1
    await ticks.tick()
    clock.now += 10
    assert await ticks.tick() == 0
    assert recorder.fires == []
    assert TimerStore(engine).fires_due(clock.now + 3600, 10) == []


async def test_drop_fire_ends_a_tick_without_retries(engine: sa.Engine) -> None:
    clock = FakeClock()
    calls: list[Fire] = []

    async def refuse(fire: Fire) -> None:
        calls.append(fire)
        raise DropFire("target gone")

    ticks = Ticker(TimerStore(engine), clock)
    ticks.on_fire(KIND, refuse)
    await ticks.put(KIND, "t", TimerSpec("rate(1 hour)"))
    await ticks.tick()
    clock.now += 3600 - 1
    assert await ticks.tick() == 0
    assert len(calls) == 1


async def test_disabled_and_removed_timers_do_not_fire(engine: sa.Engine) -> None:
    clock, recorder = FakeClock(), Recorder()
    ticks = ticker(engine, clock, recorder)
    assert await ticks.put(KIND, "off", TimerSpec("rate(1 minute)"), enabled=False) is None
    await ticks.put(KIND, "gone", TimerSpec("rate(1 minute)"))
    await ticks.remove(KIND, "gone")
    clock.now += 600
    assert await ticks.tick() == 0
    assert recorder.fires == []


def test_the_flexible_window_offset_is_deterministic_and_within_the_window() -> None:
    offsets = [fire_time(KIND, f"s{n}", T0, 600) - T0 for n in range(200)]
    assert all(0 <= o < 600 for o in offsets)
    assert max(offsets) > 300 and min(offsets) < 300  # spread over the window
    assert fire_time(KIND, "s1", T0, 600) == fire_time(KIND, "s1", T0, 600)
    assert fire_time(KIND, "s1", T0, 0) == T0


async def test_a_flexible_window_delays_each_tick(engine: sa.Engine) -> None:
    clock, recorder = FakeClock(), Recorder()
    ticks = ticker(engine, clock, recorder)
    await ticks.put(KIND, "flex", TimerSpec("rate(1 hour)", window_s=900))
    due = fire_time(KIND, "flex", T0, 900)
    clock.now = due - 0.001
    assert await ticks.tick() == 0 or due == T0
    clock.now = due
    assert await ticks.tick() == 1
    assert recorder.ticks == [0]


async def test_the_loop_fires_a_timer_put_while_it_sleeps(engine: sa.Engine) -> None:
    fired = anyio.Event()
    seen: list[Fire] = []

    async def callback(fire: Fire) -> None:
        seen.append(fire)
        fired.set()

    ticks = Ticker(TimerStore(engine))
    ticks.on_fire(KIND, callback)
    async with anyio.create_task_group() as group:
        group.start_soon(ticks.run)
        await ticks.put(KIND, "soon", TimerSpec("rate(1 hour)", start_at=ticks.now() + 0.2))
        with anyio.fail_after(30):
            await fired.wait()
        group.cancel_scope.cancel()
    assert [f.owner_id for f in seen] == ["soon"]


async def test_a_rate_started_now_fires_its_first_tick_once(engine: sa.Engine) -> None:
    """The first tick and the anchor are one instant, even as the clock moves between reads."""

    class MovingClock(FakeClock):
        def __call__(self) -> float:
            self.now += 0.0371  # every read a little later, as a real clock
            return self.now

    clock, recorder = MovingClock(T0 + 0.123456789), Recorder()
    ticks = ticker(engine, clock, recorder)
    await ticks.put(KIND, "now", TimerSpec("rate(1 minute)"))
    for _ in range(5):
        await ticks.tick()
    clock.now += 60
    await ticks.tick()
    await ticks.tick()
    assert len(recorder.fires) == 2
    assert recorder.fires[1].tick_at - recorder.fires[0].tick_at == pytest.approx(60)
