"""The change bus over a real UNIX socket: a change is applied in every secondary
before `publish` returns; a stuck secondary is given up on; questions get answers."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from lambdad.workers.bus import BusClient, ChangeBus, Event
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def bus_with(*applies: Any, ack_timeout_s: float = 5.0) -> AsyncIterator[ChangeBus]:
    stuck: list[tuple[int, int]] = []
    with tempfile.TemporaryDirectory(prefix="lambdad-bus-") as run_dir:
        bus = ChangeBus(
            str(Path(run_dir) / "bus.sock"),
            lambda worker, pid: stuck.append((worker, pid)),
            ack_timeout_s=ack_timeout_s,
        )
        bus.stuck = stuck  # type: ignore[attr-defined]
        async with anyio.create_task_group() as group:
            await group.start(bus.serve)
            for worker, apply in enumerate(applies, start=1):
                client = BusClient(bus.socket_path, worker, 1000 + worker, apply)
                await group.start(client.run)
            await wait_until_async(lambda: len(bus.connected()) == len(applies), "hellos", 10)
            yield bus
            group.cancel_scope.cancel()


async def test_publish_returns_once_every_secondary_applied_the_change() -> None:
    seen: dict[int, list[Event]] = {1: [], 2: []}

    def applier(worker: int) -> Any:
        async def apply(event: Event) -> None:
            await anyio.sleep(0.01)  # a listener that takes a moment (a pool retiring)
            seen[worker].append(event)

        return apply

    async with bus_with(applier(1), applier(2)) as bus:
        assert bus.connected() == {1: 1001, 2: 1002}
        await bus.function_changed("f")
        assert [e["name"] for e in seen[1]] == ["f"] and [e["name"] for e in seen[2]] == ["f"]
        await bus.version_changed("arn:aws:lambda:us-east-1:000000000000:function:f", "3")
        await bus.concurrency_changed("g")
        kinds = [(e["kind"], e.get("version"), e.get("name")) for e in seen[2]]
        assert kinds == [
            ("function", None, "f"),
            ("version", "3", None),
            ("concurrency", None, "g"),
        ]


async def test_a_secondary_that_does_not_ack_in_time_is_reported_stuck() -> None:
    async def never(_event: Event) -> None:
        await anyio.sleep_forever()

    async def fine(_event: Event) -> None:
        return None

    async with bus_with(fine, never, ack_timeout_s=0.2) as bus:
        with anyio.fail_after(5):
            await bus.function_changed("f")
        assert bus.stuck == [(2, 1002)]  # type: ignore[attr-defined]


async def test_a_question_gets_each_secondarys_answer() -> None:
    async def knows(event: Event) -> Any:
        return {"key": event["key"]} if event["kind"] == "session" else None

    async def does_not(_event: Event) -> Any:
        return None

    async with bus_with(knows, does_not) as bus:
        answers = await bus.publish({"kind": "session", "key": "ASIAEXAMPLE"})
        assert sorted(answers, key=str) == sorted([{"key": "ASIAEXAMPLE"}, None], key=str)


async def test_without_secondaries_a_change_costs_nothing() -> None:
    async with bus_with() as bus:
        assert await bus.publish({"kind": "function", "name": "f"}) == []
