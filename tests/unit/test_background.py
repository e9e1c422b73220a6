"""The server's endless loops outlive their own crashes."""

from __future__ import annotations

import concurrent.futures
import logging

import anyio
import pytest

from lambdad.background import keep_running

pytestmark = pytest.mark.anyio


async def test_a_crashed_loop_is_logged_and_started_again(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []

    async def loop(tag: int) -> None:
        runs.append(tag)
        if len(runs) < 3:
            raise ValueError("a bug in one loop")

    with anyio.fail_after(10):
        await keep_running(loop, 7, first_pause_s=0.0)
    assert runs == [7, 7, 7]  # it ended when the loop returned
    crashes = [r for r in caplog.records if "crashed; starting it again" in r.getMessage()]
    assert len(crashes) == 2 and crashes[0].exc_info is not None


async def test_cancelling_stops_the_loop_and_its_pause() -> None:
    async def failing() -> None:
        raise RuntimeError("always")

    with anyio.move_on_after(0.2) as scope:
        await keep_running(failing, first_pause_s=60.0)
    assert scope.cancelled_caught


async def test_a_loop_that_fails_because_the_server_stops_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = anyio.Event()

    async def flusher() -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            # What a loop's blocking call shows when the stop closes what it waits on.
            raise concurrent.futures.CancelledError() from None

    caplog.set_level(logging.INFO)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(keep_running, flusher)
            await started.wait()
            group.cancel_scope.cancel()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("flusher ended (server stopping)" in r.getMessage() for r in caplog.records)
