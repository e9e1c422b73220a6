"""ReadyEnvironments: which runtimes are kept ready, refilled, handed out, given up."""

from __future__ import annotations

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
