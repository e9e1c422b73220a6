"""The bounded queue between log producers and the store writer."""

from __future__ import annotations

import anyio
import pytest

from lambdad.telemetry.queue import BoundedQueue

pytestmark = pytest.mark.anyio


async def test_put_waits_while_full_and_resumes_when_taken() -> None:
    queue: BoundedQueue[str] = BoundedQueue(max_bytes=10)
    await queue.put("a", 6)
    done = anyio.Event()

    async def producer() -> None:
        await queue.put("b", 6)  # 12 > 10: waits
        done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(producer)
        await anyio.wait_all_tasks_blocked()
        assert not done.is_set() and queue.bytes == 6 and len(queue) == 1
        assert queue.take(100) == ["a"]
        with anyio.fail_after(5):
            await done.wait()
    assert queue.bytes == 6 and queue.take(100) == ["b"]
    assert (queue.put_count, queue.taken_count) == (2, 2)


async def test_an_item_bigger_than_the_queue_goes_in_alone() -> None:
    queue: BoundedQueue[str] = BoundedQueue(max_bytes=10)
    await queue.put("huge", 50)  # empty: admitted, else it could never go in
    assert queue.bytes == 50
    with anyio.move_on_after(0.05) as scope:
        await queue.put("next", 1)
    assert scope.cancelled_caught
    assert queue.take(1) == ["huge"]  # at least one item, whatever max_bytes says


async def test_take_respects_the_batch_size_and_order() -> None:
    queue: BoundedQueue[int] = BoundedQueue(max_bytes=100)
    for n in range(5):
        await queue.put(n, 10)
    assert queue.take(25) == [0, 1]
    assert queue.take(1000) == [2, 3, 4]
    assert queue.take(1000) == [] and queue.bytes == 0


async def test_wait_ready_lingers_for_a_fuller_batch_but_not_forever() -> None:
    queue: BoundedQueue[int] = BoundedQueue(max_bytes=100)

    async def later() -> None:
        await queue.put(1, 5)
        await queue.put(2, 50)

    async with anyio.create_task_group() as group:
        group.start_soon(later)
        with anyio.fail_after(5):
            await queue.wait_ready(min_bytes=50, linger_s=10)
    assert queue.bytes == 55
    with anyio.fail_after(5):
        await queue.wait_ready(min_bytes=1000, linger_s=0.01)  # returns after the linger
    with pytest.raises(ValueError):
        BoundedQueue[int](0)


async def test_put_nowait_takes_what_fits_and_refuses_the_rest() -> None:
    queue: BoundedQueue[str] = BoundedQueue(10)
    assert queue.put_nowait("a", 6) and queue.put_nowait("b", 4)
    assert not queue.put_nowait("c", 1)  # full: nothing changes
    assert (len(queue), queue.bytes, queue.put_count) == (2, 10, 2)
    assert queue.take(100) == ["a", "b"]
    assert queue.put_nowait("huge", 50)  # bigger than the queue: alone, when it is empty
    assert not queue.put_nowait("d", 1)
