"""Asynchronous invocation: a durable queue, attempts with retries.

An accepted event (InvocationType=Event) is one row, committed before the 202.
The loop below runs due events through the same path as a synchronous invoke.
An event is one job; each run of it is an attempt (rq's Job vs Execution).
Lambda's policy: up to 2 retries after a function error, waiting 1 then 2
minutes; throttles are retried until the maximum event age (6 hours).
"""

from __future__ import annotations

import logging
import time
import uuid

import anyio

from lambdad.concurrency import run_sync
from lambdad.errors import LambdadError, ResourceNotFound, TooManyRequests
from lambdad.invoke.invoker import Invoker
from lambdad.store import AsyncEventRow, AsyncEventStore

log = logging.getLogger(__name__)

MAX_RETRIES = 2
POLL_INTERVAL_S = 1.0


class AsyncQueue:
    def __init__(
        self,
        events: AsyncEventStore,
        invoker: Invoker,
        retry_base_s: float,
        max_event_age_s: float,
        workers: int,
    ) -> None:
        self.events = events
        self.invoker = invoker
        self.retry_base_s = retry_base_s
        self.max_event_age_s = max_event_age_s
        self._workers = anyio.Semaphore(workers)
        self._running: set[str] = set()
        self._wake = anyio.Event()

    async def enqueue(
        self, function_name: str, qualifier: str, payload: bytes, trace_id: str | None
    ) -> str:
        """Durably accept an event; returns its request id."""
        now = time.time()
        row = AsyncEventRow(
            id=str(uuid.uuid4()),
            function_name=function_name,
            qualifier=qualifier,
            payload=payload,
            attempts=0,
            enqueued_at=now,
            next_attempt_at=now,
            trace_id=trace_id,
        )
        await run_sync(self.events.enqueue, row)
        self._wake.set()
        return row.id

    async def run(self) -> None:
        """The queue loop: take due events, run each as an attempt, sleep until the next."""
        async with anyio.create_task_group() as attempts:
            while True:
                try:
                    due = await run_sync(self.events.due, time.time(), 64, set(self._running))
                    for event in due:
                        await self._workers.acquire()
                        self._running.add(event.id)
                        attempts.start_soon(self._attempt, event)
                    await self._sleep_until_next(bool(due))
                except Exception:
                    log.exception("async queue: pass failed")
                    await anyio.sleep(POLL_INTERVAL_S)

    async def _sleep_until_next(self, busy: bool) -> None:
        if busy:
            await anyio.sleep(0)
            return
        next_due = await run_sync(self.events.next_due_at)
        wait = (
            POLL_INTERVAL_S
            if next_due is None
            else max(0.0, min(POLL_INTERVAL_S, next_due - time.time()))
        )
        self._wake = anyio.Event()
        with anyio.move_on_after(wait):
            await self._wake.wait()

    async def _attempt(self, event: AsyncEventRow) -> None:
        try:
            outcome = await self._run(event)
            await self._settle(event, outcome)
        except Exception:
            log.exception("async event %s: attempt failed", event.id)
            await self._settle(event, "error")
        finally:
            self._running.discard(event.id)
            self._workers.release()

    async def _run(self, event: AsyncEventRow) -> str:
        """One attempt: "ok", "error" (function error), "throttled" or "gone"."""
        try:
            target = await self.invoker.resolve(event.function_name, event.qualifier)
            result = await self.invoker.invoke(
                target, event.payload, trace_id=event.trace_id, request_id=event.id
            )
        except TooManyRequests:
            return "throttled"
        except ResourceNotFound:
            return "gone"
        except LambdadError as exc:
            log.warning("async event %s: %s", event.id, exc.message)
            return "error"
        return "error" if result.function_error else "ok"

    async def _settle(self, event: AsyncEventRow, outcome: str) -> None:
        attempts = event.attempts + 1
        age = time.time() - event.enqueued_at
        if outcome in ("ok", "gone"):
            await run_sync(self.events.delete, event.id)
            return
        retry = (outcome == "throttled" or attempts <= MAX_RETRIES) and age < self.max_event_age_s
        if not retry:
            log.warning(
                "async event %s for %s: dropped after %d attempt(s) (%s)",
                event.id,
                event.function_name,
                attempts,
                outcome,
            )
            await run_sync(self.events.delete, event.id)
            return
        delay = self.retry_base_s * (attempts if outcome == "error" else 1)
        await run_sync(self.events.reschedule, event.id, attempts, time.time() + delay)
