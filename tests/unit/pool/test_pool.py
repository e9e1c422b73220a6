"""The warm pool with fake environments and a fake clock: no sandboxes, no waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import anyio
import pytest

from lambdad.catalog import Version
from lambdad.pool import EnvironmentPool, EnvState, ExecutionEnvironment, Lease
from support.catalog import make_version
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio


class FakeEnvironment:
    def __init__(self, env_id: str) -> None:
        self.env_id = env_id
        self.init_duration_ms = 1.0
        self.from_snapshot = False
        self.backend_name = "fake"
        self.frozen = False
        self.init_error = None
        self.destroyed: str | None = None

    async def freeze(self, still_wanted: Callable[[], bool] = lambda: True) -> None:
        if still_wanted():
            self.frozen = True

    async def destroy(self, reason: str) -> None:
        self.destroyed = reason


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def version(name: str = "fn", revision: str = "r1") -> Version:
    return make_version(name, revision)


def state_of(lease: Lease) -> EnvState:
    """The lease's state now (a call, so type narrowing does not outlive an await)."""
    return lease.state


def make_pool(
    clock: Callable[[], float], idle_timeout_s: float = 60.0, freeze_after_s: float = 0.0
) -> tuple[EnvironmentPool, list[Any]]:
    started: list[FakeEnvironment] = []

    async def start(v: Version, env_id: str, stream: str) -> ExecutionEnvironment:
        env = FakeEnvironment(env_id)
        started.append(env)
        return cast(ExecutionEnvironment, env)

    pool = EnvironmentPool(
        start, lambda v: f"stream-{v}", idle_timeout_s, clock=clock, freeze_after_s=freeze_after_s
    )
    return pool, started


async def test_sequential_invocations_reuse_one_warm_environment() -> None:
    pool, started = make_pool(Clock())
    first = await pool.acquire(version())
    assert first.cold and state_of(first) is EnvState.BUSY
    await pool.release(first, reusable=True)
    assert state_of(first) is EnvState.IDLE and started[0].frozen

    second = await pool.acquire(version())
    assert second is first and not second.cold
    assert len(started) == 1


async def test_concurrent_invocations_get_their_own_environments() -> None:
    pool, started = make_pool(Clock())
    a = await pool.acquire(version())
    b = await pool.acquire(version())
    assert a is not b and len(started) == 2


async def test_a_poisoned_environment_is_destroyed_not_reused() -> None:
    pool, started = make_pool(Clock())
    lease = await pool.acquire(version())
    await pool.release(lease, reusable=False)
    assert started[0].destroyed == "poisoned" and state_of(lease) is EnvState.DEAD
    again = await pool.acquire(version())
    assert again is not lease and len(started) == 2


async def test_a_new_revision_never_gets_an_old_environment() -> None:
    pool, started = make_pool(Clock())
    old = await pool.acquire(version(revision="r1"))
    await pool.release(old, reusable=True)
    new = await pool.acquire(version(revision="r2"))
    assert new is not old and len(started) == 2


async def test_retire_destroys_idle_now_and_busy_on_release() -> None:
    pool, started = make_pool(Clock())
    idle = await pool.acquire(version())
    busy = await pool.acquire(version())
    await pool.release(idle, reusable=True)

    await pool.retire(version().function_arn)
    assert started[0].destroyed == "function changed"
    assert started[1].destroyed is None
    await pool.release(busy, reusable=True)
    assert started[1].destroyed == "retired"
    assert pool.count(version().function_arn) == 0


async def test_one_name_in_two_regions_is_two_functions_to_the_pool() -> None:
    pool, started = make_pool(Clock())
    east = version()
    west = make_version(function_arn=east.function_arn.replace("us-east-1", "eu-west-1"))
    east_lease, west_lease = await pool.acquire(east), await pool.acquire(west)
    await pool.release(east_lease, reusable=True)
    await pool.release(west_lease, reusable=True)
    assert (pool.count(east.function_arn), pool.count(west.function_arn)) == (1, 1)

    await pool.retire(west.function_arn)  # west's code changed: east keeps its environment
    assert [env.destroyed for env in started] == [None, "function changed"]
    again = await pool.acquire(east)
    assert again is east_lease and len(started) == 2


async def test_reaper_destroys_only_what_idled_long_enough() -> None:
    clock = Clock()
    pool, started = make_pool(clock, idle_timeout_s=10)
    old = await pool.acquire(version("a"))
    await pool.release(old, reusable=True)
    clock.now += 6
    recent = await pool.acquire(version("b"))
    await pool.release(recent, reusable=True)

    clock.now += 5  # "a" idle 11 s, "b" idle 5 s
    assert await pool.reap() == 1
    assert started[0].destroyed == "idle" and started[1].destroyed is None
    assert pool.count() == 1


async def test_close_destroys_everything() -> None:
    pool, started = make_pool(Clock())
    lease = await pool.acquire(version())
    await pool.acquire(version())
    await pool.release(lease, reusable=True)
    await pool.close()
    assert all(env.destroyed == "server stopping" for env in started)
    assert pool.count() == 0


async def test_a_cold_start_abandoned_by_its_caller_leaves_no_environment() -> None:
    """A caller cancelled (a client gone) right after its environment started: the
    environment is destroyed, never left running outside the pool."""
    started: list[FakeEnvironment] = []
    held, release = anyio.Event(), anyio.Event()

    async def hold_the_pool() -> None:
        async with pool._lock:
            held.set()
            await release.wait()

    async with anyio.create_task_group() as tg:

        async def start(v: Version, env_id: str, stream: str) -> ExecutionEnvironment:
            started.append(FakeEnvironment(env_id))
            tg.start_soon(hold_the_pool)  # the new lease must now wait to be registered
            await held.wait()
            return cast(ExecutionEnvironment, started[-1])

        pool = EnvironmentPool(start, lambda v: f"stream-{v}", 60.0, clock=Clock())
        with anyio.CancelScope() as scope:
            tg.start_soon(_cancel_when_waiting, pool, scope)
            await pool.acquire(version())
        release.set()
    assert len(started) == 1 and started[0].destroyed is not None
    assert pool.count() == 0


async def _cancel_when_waiting(pool: EnvironmentPool, scope: anyio.CancelScope) -> None:
    """Cancel `scope` once a task waits for the pool's lock (the started lease)."""
    with anyio.fail_after(5):
        while not pool._lock.statistics().tasks_waiting:
            await anyio.sleep(0)
    scope.cancel()


async def test_an_environment_past_its_max_age_is_not_reused_and_is_reaped() -> None:
    """Role credentials expire: an environment old enough is retired, busy or idle,
    and the next invocation cold-starts with fresh ones."""
    clock = Clock()
    started: list[FakeEnvironment] = []

    async def start(v: Version, env_id: str, stream: str) -> ExecutionEnvironment:
        started.append(FakeEnvironment(env_id))
        return cast(ExecutionEnvironment, started[-1])

    pool = EnvironmentPool(start, lambda v: f"s-{v}", 600.0, clock=clock, max_age_s=100.0)
    first = await pool.acquire(version())
    await pool.release(first, reusable=True)
    clock.now += 50
    assert await pool.acquire(version()) is first  # young enough: reused
    await pool.release(first, reusable=True)
    clock.now += 50  # 100 s old, used a moment ago: not idle long, but too old
    second = await pool.acquire(version())
    assert second is not first and len(started) == 2
    assert await pool.reap() == 1
    assert started[0].destroyed is not None and started[1].destroyed is None


async def test_an_idle_environment_is_frozen_once_idle_for_freeze_after() -> None:
    clock = Clock()
    pool, started = make_pool(clock, freeze_after_s=0.5)
    lease = await pool.acquire(version())
    await pool.release(lease, reusable=True)
    assert state_of(lease) is EnvState.IDLE and not started[0].frozen
    clock.now += 0.4
    assert await pool.freeze_idle() == 0 and not started[0].frozen
    clock.now += 0.1
    assert await pool.freeze_idle() == 1 and started[0].frozen
    assert await pool.acquire(version()) is lease  # a frozen one is still reused


async def test_back_to_back_invocations_are_never_frozen() -> None:
    clock = Clock()
    pool, started = make_pool(clock, freeze_after_s=0.5)
    for _ in range(3):
        lease = await pool.acquire(version())
        clock.now += 1.0  # a long invocation: what counts is the time idle
        await pool.release(lease, reusable=True)
        clock.now += 0.1
        assert await pool.freeze_idle() == 0
    assert len(started) == 1 and not started[0].frozen
    taken = await pool.acquire(version())
    clock.now += 1.0
    assert await pool.freeze_idle() == 0 and not started[0].frozen  # busy: never frozen
    await pool.release(taken, reusable=True)


async def test_the_freezer_loop_freezes_what_idles() -> None:
    pool, started = make_pool(time.monotonic, freeze_after_s=0.01)
    async with anyio.create_task_group() as group:
        group.start_soon(pool.run_freezer)
        for _ in range(2):  # the loop waits for the first idle one, then for the next
            lease = await pool.acquire(version())
            assert not started[0].frozen
            await pool.release(lease, reusable=True)
            await wait_until_async(lambda: started[0].frozen, "the idle environment frozen")
            started[0].frozen = False  # as invoke() thaws it
        group.cancel_scope.cancel()


class SteppingClock(Clock):
    """A clock that moves on at every reading, as a loaded machine's does between two."""

    def __call__(self) -> float:
        self.now += 0.3
        return self.now


async def test_the_freezer_loop_survives_time_passing_between_its_readings() -> None:
    pool, started = make_pool(SteppingClock(), freeze_after_s=0.5)
    async with anyio.create_task_group() as group:
        group.start_soon(pool.run_freezer)
        lease = await pool.acquire(version())
        await pool.release(lease, reusable=True)
        await wait_until_async(lambda: started[0].frozen, "the idle environment frozen")
        group.cancel_scope.cancel()


async def test_release_nowait_releases_what_needs_no_wait_and_leaves_the_rest() -> None:
    """The invocation path's release without a wait: a reusable environment frozen later
    goes idle at once (counted); a poisoned or retired one, or one to freeze now, is left
    untouched for `release`."""
    clock = Clock()
    pool, started = make_pool(clock, freeze_after_s=0.5)
    lease = await pool.acquire(version())
    clock.now += 2
    assert pool.release_nowait(lease, reusable=True)
    assert state_of(lease) is EnvState.IDLE and lease.invocations == 1
    assert lease.last_used == clock.now and not started[0].frozen
    assert await pool.acquire(version()) is lease

    assert not pool.release_nowait(lease, reusable=False)
    assert state_of(lease) is EnvState.BUSY and lease.invocations == 1
    await pool.retire(lease.key.function_arn)
    assert not pool.release_nowait(lease, reusable=True)
    assert state_of(lease) is EnvState.BUSY
    await pool.release(lease, reusable=True)
    assert state_of(lease) is EnvState.DEAD and started[0].destroyed == "retired"

    at_once, _ = make_pool(Clock())  # freeze_after_s 0: frozen in `release`
    lease = await at_once.acquire(version())
    assert not at_once.release_nowait(lease, reusable=True)
    assert state_of(lease) is EnvState.BUSY and lease.invocations == 0


async def test_acquire_prefers_the_provisioned_then_the_most_recently_used() -> None:
    clock = Clock()
    pool, _ = make_pool(clock, freeze_after_s=0.5)
    older, newer = await pool.acquire(version()), await pool.acquire(version())
    pool.release_nowait(newer, reusable=True)
    clock.now += 1
    pool.release_nowait(older, reusable=True)
    assert await pool.acquire(version()) is older  # used last
    provisioned = await pool.provision(version(), "live")
    assert await pool.acquire(version(), provisioned_for="live") is provisioned
    assert await pool.acquire(version(), provisioned_for="live") is newer  # spills over
    assert await pool.acquire(version()) not in (older, newer, provisioned)  # a cold start
