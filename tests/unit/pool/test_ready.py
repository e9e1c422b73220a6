"""ReadyEnvironments: which runtimes are kept ready, refilled, handed out, given up."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import anyio
import pytest

from lambdad.pool.ready import ReadyEnvironments, ReadyKey
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio


class Parked:
    def __init__(self, key: ReadyKey, n: int) -> None:
        self.key, self.alive, self.destroyed = key, True, ""
        self.spec = type("Spec", (), {"env_id": f"ready{n}"})()

    def is_alive(self) -> bool:
        return self.alive and not self.destroyed

    async def destroy(self, reason: str) -> None:
        self.destroyed = reason


async def test_wanted_runtimes_are_kept_ready_and_handed_out_once() -> None:
    made: list[Parked] = []

    async def park(key: ReadyKey) -> Any:
        made.append(Parked(key, len(made)))
        return made[-1]

    ready = ReadyEnvironments(park, per_runtime=1, max_runtimes=2)
    py311, py312, py313 = (ReadyKey(f"python3.{n}", 512) for n in (11, 12, 13))
    async with anyio.create_task_group() as group:
        group.start_soon(ready.run)
        assert await ready.take(py311) is None  # nothing wanted yet
        await ready.want(py311)
        await wait_until_async(lambda: ready.count(py311) == 1, "one parked for 3.11")
        env: Any = await ready.take(py311)
        assert env is made[0] and await ready.take(py311) is None
        await ready.want(py311)  # its cold start is over: park its replacement
        await wait_until_async(lambda: ready.count(py311) == 1, "refilled")
        made[1].alive = False  # a parked one that died is never handed out
        assert await ready.take(py311) is None and made[1].destroyed
        await ready.want(py312)
        await ready.want(py313)  # past max_runtimes: 3.11, the least lately wanted, goes
        await wait_until_async(
            lambda: ready.count(py312) == 1 and ready.count(py313) == 1, "3.12 and 3.13"
        )
        assert ready.count(py311) == 0
        group.cancel_scope.cancel()
    await ready.close()
    assert all(e.destroyed for e in made if e is not env)


async def test_put_back_keeps_a_live_one_and_destroys_a_dead_one() -> None:
    async def park(key: ReadyKey) -> Any:
        raise AssertionError("not wanted")

    ready = ReadyEnvironments(park)
    key = ReadyKey("python3.11", 512)
    live, dead = Parked(key, 0), Parked(key, 1)
    dead.alive = False
    await ready.put_back(key, live)  # type: ignore[arg-type]
    await ready.put_back(key, dead)  # type: ignore[arg-type]
    assert ready.count(key) == 1 and dead.destroyed and not live.destroyed
    back: Any = await ready.take(key)
    assert back is live


async def test_a_park_cut_short_by_the_server_stopping_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As on a real stop: the server cancels its loops, then the backend shuts its spawn
    # thread down, cancelling the launch a park waits for (concurrent.futures'
    # CancelledError, an ordinary Exception, comes out of the park).
    spawn, busy = ThreadPoolExecutor(max_workers=1), threading.Event()
    spawn.submit(busy.wait)  # the one spawn thread is busy: the park's launch waits
    parking = threading.Event()

    def wait_for(launch: Future[Parked]) -> Parked:
        parking.set()
        return launch.result()

    async def park(key: ReadyKey) -> Any:
        launch = spawn.submit(lambda: Parked(key, 0))
        return await anyio.to_thread.run_sync(wait_for, launch)

    ready = ReadyEnvironments(park)
    caplog.set_level(logging.INFO)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(ready.run)
            await ready.want(ReadyKey("python3.11", 512))
            await wait_until_async(parking.is_set, "a park waiting for its launch")
            group.cancel_scope.cancel()
            await ready.close()
            closing = threading.Thread(target=spawn.shutdown, kwargs={"cancel_futures": True})
            closing.start()
            await wait_until_async(lambda: spawn._shutdown, "the spawn thread shutting down")
            busy.set()
    closing.join()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("parking stopped with the server" in r.getMessage() for r in caplog.records)
