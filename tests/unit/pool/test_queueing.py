"""Queueing behind busy environments (`pool/queueing.py`): fake environments whose
cold starts and invocations take what a fake clock says, so the estimates are exact."""

from __future__ import annotations

import dataclasses
from typing import cast

import anyio
import pytest

from lambdad.catalog import Version
from lambdad.pool import EnvironmentPool, EnvState, ExecutionEnvironment, Lease
from lambdad.pool.pool import CPU_LOOK_EVERY_S
from lambdad.pool.queueing import Ewma, expected_wait, wait_bound
from support.catalog import make_version
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio

COLD_START_S = 20.0
"""How long a fake cold start takes on the fake clock: also the real seconds a waiter
may wait, so a test that sees a waiter served knows what served it."""


class Env:
    def __init__(self, env_id: str) -> None:
        self.env_id = env_id
        self.init_duration_ms = COLD_START_S * 1000
        self.from_snapshot = False
        self.backend_name = "fake"
        self.init_error = None
        self.frozen = False
        self.destroyed: str | None = None
        self.throttles = 0
        """Its CPU-throttled periods so far (a test raises it: the share ran out)."""

    def cpu_throttles(self) -> int:
        return self.throttles

    async def freeze(self, still_wanted: object = None) -> None:
        self.frozen = True

    async def destroy(self, reason: str) -> None:
        self.destroyed = reason


class Box:
    """A pool of fake environments, its fake clock and what it started."""

    def __init__(self, queue_wait_max_s: float = 30.0, max_age_s: float | None = None) -> None:
        self.now = 1000.0
        self.started: list[Env] = []
        self.got: list[Lease] = []
        self.pool = EnvironmentPool(
            self._start,
            lambda v: f"stream-{v}",
            600.0,
            clock=lambda: self.now,
            max_age_s=max_age_s,
            queue_wait_max_s=queue_wait_max_s,
        )

    async def _start(self, v: Version, env_id: str, stream: str) -> ExecutionEnvironment:
        self.now += COLD_START_S
        self.started.append(Env(env_id))
        return cast(ExecutionEnvironment, self.started[-1])

    async def take(self, v: Version | None = None) -> None:
        """Acquire an environment into `got` (run as a task: it may wait in line)."""
        self.got.append(await self.pool.acquire(v or version()))

    async def invoked(self, lease: Lease, seconds: float, reusable: bool = True) -> None:
        """`lease` ran an invocation of `seconds`, and is released."""
        self.now += seconds
        await self.pool.release(lease, reusable=reusable)

    async def warm(self, n: int, seconds: float, v: Version | None = None) -> list[Lease]:
        """`n` environments started, each having run one invocation of `seconds`, all
        busy again (with a new invocation that began just now)."""
        v = v or version()
        leases = [await self.pool.acquire(v) for _ in range(n)]
        for lease in leases:  # their invocations ran side by side, and end now
            lease.busy_since = self.now - seconds
            await self.pool.release(lease, reusable=True)
        again = [await self.pool.acquire(v) for _ in range(n)]
        assert {lease.id for lease in again} == {lease.id for lease in leases}
        return again


def version(timeout: int = 60) -> Version:
    v = make_version("fn")
    return dataclasses.replace(v, config=dataclasses.replace(v.config, timeout=timeout))


async def waiting(pool: EnvironmentPool, n: int) -> None:
    await wait_until_async(lambda: pool.waiting() == n, f"{n} invocation(s) waiting in line")


# -- the policy, pure -----------------------------------------------------------------


def test_the_kth_waiter_expects_the_kth_release() -> None:
    # Busy for 1 ms and 4 ms of 5 ms invocations: free in 4 ms and 1 ms.
    busy = [0.001, 0.004]
    assert expected_wait(busy, 0, 0.005) == pytest.approx(0.001)
    assert expected_wait(busy, 1, 0.005) == pytest.approx(0.004)
    assert expected_wait(busy, 2, 0.005) == pytest.approx(0.006)  # the second round
    assert expected_wait(busy, 5, 0.005) == pytest.approx(0.014)


def test_an_environment_busy_past_the_usual_duration_is_expected_to_take_another() -> None:
    assert expected_wait([0.2], 0, 0.005) == pytest.approx(0.005)
    assert expected_wait([], 0, 0.005) == float("inf")


def test_the_wait_is_bounded_by_the_cold_start_the_operator_and_the_timeout() -> None:
    assert wait_bound(0.01, cold_start=0.1, queue_wait_max_s=1.0, timeout_s=3) == 0.1
    assert wait_bound(0.01, cold_start=5.0, queue_wait_max_s=1.0, timeout_s=3) == 1.0
    assert wait_bound(0.01, cold_start=5.0, queue_wait_max_s=9.0, timeout_s=3) == 3
    assert wait_bound(0.1, cold_start=0.1, queue_wait_max_s=1.0, timeout_s=3) is None
    assert wait_bound(2.0, cold_start=5.0, queue_wait_max_s=1.0, timeout_s=3) is None


def test_the_average_follows_recent_samples() -> None:
    average = Ewma()
    average.add(1.0)
    assert average.value == 1.0
    for _ in range(20):
        average.add(0.0)
    assert average.value is not None and average.value < 0.01


# -- the pool -----------------------------------------------------------------------------


async def test_a_burst_waits_for_busy_environments_about_to_free_up() -> None:
    box = Box()
    busy = await box.warm(2, seconds=0.01)  # invocations of 10 ms, cold starts of 20 s
    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(box.take)
        await waiting(box.pool, 4)
        for lease in busy:
            await box.invoked(lease, 0.01)
        await wait_until_async(lambda: len(box.got) == 2, "two waiters served")
        for lease in list(box.got):
            await box.invoked(lease, 0.01)
    assert len(box.got) == 4 and len(box.started) == 2  # no cold start
    assert all(not lease.cold and lease.state is EnvState.BUSY for lease in box.got)


async def test_a_burst_cold_starts_when_busy_environments_free_up_later_than_a_start() -> None:
    box = Box()
    await box.warm(2, seconds=25.0)  # invocations of 25 s, cold starts of 20 s
    lease = await box.pool.acquire(version())
    assert lease.cold and len(box.started) == 3 and box.pool.waiting() == 0


async def test_the_first_burst_of_a_function_scales_out() -> None:
    box = Box()
    first = await box.pool.acquire(version())
    second = await box.pool.acquire(version())  # nothing released yet: no estimate
    assert first is not second and len(box.started) == 2


async def test_queueing_off_always_scales_out() -> None:
    box = Box(queue_wait_max_s=0.0)
    await box.warm(1, seconds=0.01)
    assert (await box.pool.acquire(version())).cold and len(box.started) == 2


async def test_an_invocation_that_may_not_queue_cold_starts() -> None:
    """A function's invocation nested in its own chain (it invoked itself): the busy
    environments may be waiting for it."""
    box = Box()
    await box.warm(1, seconds=0.01)
    assert (await box.pool.acquire(version(), may_queue=False)).cold


def throttle(lease: Lease) -> None:
    """The kernel held `lease`'s environment back to its CPU share once more."""
    cast(Env, lease.environment).throttles += 1


async def test_no_invocation_waits_for_an_environment_whose_cpu_share_ran_out() -> None:
    """On Lambda each concurrent invocation has an environment and a CPU share of its
    own: queued on one environment they would all share its (7% of a core at 128 MB)."""
    box = Box()
    (busy,) = await box.warm(1, seconds=0.01)
    throttle(busy)
    with anyio.fail_after(COLD_START_S / 2):  # in line, it would wait for 20 s
        lease = await box.pool.acquire(version())
    assert lease.cold and len(box.started) == 2 and box.pool.waiting() == 0


async def test_a_throttle_counts_once_then_the_line_waits_for_that_environment_again() -> None:
    box = Box()
    (busy,) = await box.warm(1, seconds=0.01)
    throttle(busy)
    with anyio.fail_after(COLD_START_S / 2):
        assert (await box.pool.acquire(version())).cold  # the throttle is news: scale out
    async with anyio.create_task_group() as group:  # no throttle since: it waits
        group.start_soon(box.take)
        await waiting(box.pool, 1)
        await box.invoked(busy, 0.01)
    assert box.got == [busy] and len(box.started) == 2


async def test_the_line_looks_at_an_environments_throttling_once_per_cpu_period() -> None:
    """A look reads a cgroup file: a crowd of waiters in one period reads it once, and
    scales out by one environment for it, not one each."""
    box = Box()
    (busy,) = await box.warm(1, seconds=0.01)
    out_of_cpu = box.pool._out_of_cpu
    throttle(busy)
    assert out_of_cpu(busy, box.now)
    throttle(busy)
    assert not out_of_cpu(busy, box.now + CPU_LOOK_EVERY_S / 2)  # not looked at
    assert out_of_cpu(busy, box.now + CPU_LOOK_EVERY_S)
    assert not out_of_cpu(busy, box.now + 2 * CPU_LOOK_EVERY_S)  # no throttle since


async def test_one_throttled_environment_leaves_the_line_to_the_others() -> None:
    box = Box()
    throttled, unthrottled = await box.warm(2, seconds=0.01)
    throttle(throttled)
    async with anyio.create_task_group() as group:
        group.start_soon(box.take)
        await waiting(box.pool, 1)
        await box.invoked(unthrottled, 0.01)
    assert box.got == [unthrottled] and len(box.started) == 2


async def test_the_line_grows_only_while_its_expected_wait_beats_a_cold_start() -> None:
    box = Box()
    await box.warm(2, seconds=6.0)
    async with anyio.create_task_group() as group:
        for _ in range(6):  # expecting 6, 6, 12, 12, 18, 18 s
            group.start_soon(box.pool.acquire, version())
        await waiting(box.pool, 6)
        seventh = await box.pool.acquire(version())  # 24 s > a 20 s cold start
        assert seventh.cold and len(box.started) == 3
        group.cancel_scope.cancel()


async def test_waiters_are_served_first_come_first_served() -> None:
    box = Box()
    busy = await box.warm(1, seconds=0.01)
    order: list[int] = []

    async def one(i: int) -> None:
        lease = await box.pool.acquire(version())
        order.append(i)
        await box.invoked(lease, 0.01)  # hands it to the next one in line

    async with anyio.create_task_group() as group:
        for i in range(3):
            group.start_soon(one, i)
            await waiting(box.pool, i + 1)
        await box.invoked(busy[0], 0.01)
    assert order == [0, 1, 2] and len(box.started) == 1


async def test_a_released_environment_goes_straight_to_the_line() -> None:
    box = Box()
    busy = await box.warm(1, seconds=0.01)
    async with anyio.create_task_group() as group:
        group.start_soon(box.take)
        await waiting(box.pool, 1)
        await box.invoked(busy[0], 0.01)
        assert box.pool.waiting() == 0 and busy[0].state is EnvState.BUSY  # handed, not idle
    assert box.got == busy


async def test_a_waiter_is_never_stranded_past_its_bound() -> None:
    box = Box(queue_wait_max_s=0.05)  # real seconds: nothing releases, it cold-starts
    await box.warm(1, seconds=0.01)
    lease = await box.pool.acquire(version())
    assert lease.cold and len(box.started) == 2 and box.pool.waiting() == 0


async def test_the_bound_never_passes_the_function_timeout() -> None:
    box = Box(queue_wait_max_s=30.0)
    await box.warm(1, seconds=2.0, v=version(timeout=1))
    # 2 s expected: longer than the 1 s timeout, though quicker than a cold start.
    assert (await box.pool.acquire(version(timeout=1))).cold


async def test_when_the_awaited_environment_dies_the_head_of_the_line_cold_starts() -> None:
    box = Box()  # a 20 s bound: only the poisoned release can send it to cold-start
    busy = await box.warm(1, seconds=0.01)
    async with anyio.create_task_group() as group:
        group.start_soon(box.take)
        group.start_soon(box.take)
        await waiting(box.pool, 2)
        await box.invoked(busy[0], 0.01, reusable=False)
        await wait_until_async(lambda: box.got, "the head of the line cold-started", timeout_s=10)
        assert box.got[0].cold and box.pool.waiting() == 1
        await box.invoked(box.got[0], 0.01)  # the new one serves the rest of the line
    assert box.got[1] is box.got[0] and len(box.started) == 2


async def test_a_retired_or_too_old_environment_sends_the_head_to_cold_start() -> None:
    box = Box(max_age_s=100.0)
    busy = await box.warm(2, seconds=0.01)
    async with anyio.create_task_group() as group:
        group.start_soon(box.take)
        group.start_soon(box.take)
        await waiting(box.pool, 2)
        await box.pool.retire_leases([busy[0]], "its function changed")
        await box.invoked(busy[0], 0.01)  # retired: destroyed
        await wait_until_async(lambda: len(box.got) == 1, "one cold start", timeout_s=10)
        box.now += 100  # busy[1] is too old to reuse when released
        await box.invoked(busy[1], 0.01)
        await wait_until_async(lambda: len(box.got) == 2, "another cold start", timeout_s=10)
    assert all(lease.cold for lease in box.got) and len(box.started) == 4
    assert busy[0].state is EnvState.DEAD and busy[1].state is EnvState.IDLE


async def test_a_cancelled_waiter_passes_what_it_was_handed_on() -> None:
    box = Box()
    busy = await box.warm(1, seconds=0.01)
    scopes: list[anyio.CancelScope] = []

    async def caller() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await box.pool.acquire(version())

    async with anyio.create_task_group() as group:
        group.start_soon(caller)
        await waiting(box.pool, 1)
        scopes[0].cancel()  # its caller is gone...
        await box.invoked(busy[0], 0.01)  # ...as the environment is handed over
    assert box.pool.waiting() == 0
    assert busy[0].state is EnvState.IDLE  # back in the pool, not lost
    assert await box.pool.acquire(version()) is busy[0]


async def test_closing_the_pool_sends_the_line_away() -> None:
    box = Box()
    await box.warm(1, seconds=0.01)
    async with anyio.create_task_group() as group:
        group.start_soon(box.pool.acquire, version())
        await waiting(box.pool, 1)
        await box.pool.close()
    assert box.pool.waiting() == 0


async def test_provisioned_environments_never_serve_the_line() -> None:
    box = Box()
    v = version()
    await box.warm(1, seconds=0.01)
    provisioned = await box.pool.provision(v, "live")
    taken = await box.pool.acquire(v, provisioned_for="live")
    assert taken is provisioned
    async with anyio.create_task_group() as group:
        group.start_soon(box.take, v)
        await waiting(box.pool, 1)
        await box.invoked(taken, 0.01)
        assert box.pool.waiting() == 1 and provisioned.state is EnvState.IDLE
        group.cancel_scope.cancel()


async def test_each_wait_in_line_is_reported_served_or_not() -> None:
    box = Box(queue_wait_max_s=0.05)  # real seconds: the second waiter is not served
    waits: list[tuple[str, float]] = []
    box.pool.on_queue_wait(lambda v, seconds: waits.append((v.function_name, seconds)))
    busy = await box.warm(1, seconds=0.01)
    assert waits == []  # no wait yet: the warm-up found idle environments or scaled out
    async with anyio.create_task_group() as group:
        group.start_soon(box.take)
        await waiting(box.pool, 1)
        box.now += 0.004  # on the pool's clock, the waiter waited 4 ms
        await box.invoked(busy[0], 0.0)
    assert len(waits) == 1 and waits[0][0] == "fn" and waits[0][1] == pytest.approx(0.004)
    lease = await box.pool.acquire(version())  # waits its 50 ms bound, then cold-starts
    assert lease.cold and len(waits) == 2 and waits[1][0] == "fn"
