"""Asynchronous invocation: a durable queue, attempts with retries and destinations.

An accepted event (InvocationType=Event) is one row, committed before the 202.
The loop below runs due events through the same path as a synchronous invoke.
An event is one job; each run of it is an attempt (rq's Job vs Execution).
What follows an attempt (retry, wait, destination) is planned by
`async_retry` under the function's event invoke config, then carried out
here. Every event that ends without success is logged, never dropped silently.
The queue is the server's: each event runs in its function's region.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

import anyio

from lambdad.catalog import EventInvokeConfig, EventInvokeConfigs
from lambdad.concurrency import run_sync
from lambdad.errors import LambdadError, ResourceConflict, ResourceNotFound, TooManyRequests
from lambdad.invoke.async_retry import (
    AttemptResult,
    Condition,
    Done,
    Drop,
    Outcome,
    Retry,
    RetryTimes,
    Step,
    plan_after,
    plan_before,
)
from lambdad.invoke.destinations import follow_up, response_of
from lambdad.invoke.invoker import Invoker
from lambdad.store import AsyncEventRow, AsyncEventStore
from lambdad.telemetry import MetricsRecorder

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0
BATCH = 64

Clock = Callable[[], float]


class AsyncQueue:
    def __init__(
        self,
        events: AsyncEventStore,
        invoker: Invoker,
        configs: EventInvokeConfigs,
        times: RetryTimes,
        workers: int,
        clock: Clock = time.time,
    ) -> None:
        self.events = events
        self.invoker = invoker
        self.configs = configs
        self.times = times
        self._clock = clock
        self._workers = anyio.Semaphore(workers)
        self._running: set[str] = set()
        self._wake = anyio.Event()

    @property
    def _metrics(self) -> MetricsRecorder:
        return self.invoker.metrics

    async def enqueue(
        self,
        region: str,
        function_name: str,
        qualifier: str,
        payload: bytes,
        trace_id: str | None,
        request_id: str | None = None,
    ) -> str:
        """Durably accept an event for a function of `region`; returns its request id. A
        caller that may hand the same event over twice names it (`request_id`): the
        second time is a no-op."""
        now = self._clock()
        row = AsyncEventRow(
            id=request_id or str(uuid.uuid4()),
            region=region,
            function_name=function_name,
            qualifier=qualifier,
            payload=payload,
            attempts=0,
            enqueued_at=now,
            next_attempt_at=now,
            trace_id=trace_id,
        )
        if await run_sync(self.events.enqueue, row):
            self._metrics.async_received(region, function_name, qualifier)
            self._wake.set()
        return row.id

    async def run(self) -> None:
        """The queue loop: take due events, run each as an attempt, sleep until the next."""
        async with anyio.create_task_group() as attempts:
            while True:
                try:
                    running = set(self._running)
                    due = await run_sync(self.events.due, self._clock(), BATCH, running)
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
            else max(0.0, min(POLL_INTERVAL_S, next_due - self._clock()))
        )
        self._wake = anyio.Event()
        with anyio.move_on_after(wait):
            await self._wake.wait()

    async def _attempt(self, event: AsyncEventRow) -> None:
        """Plan, run, settle one try of one event; a failure here never loses the event."""
        try:
            await self._carry_out(event, await self._plan(event))
        except Exception:
            log.exception("async event %s: could not be settled; trying again later", event.id)
            await self._retry_later(event)
        finally:
            self._running.discard(event.id)
            self._workers.release()

    async def _plan(self, event: AsyncEventRow) -> Step:
        configs = self.configs.in_region(event.region)
        config = await configs.for_event(event.function_name, event.qualifier)
        expired = plan_before(event, config, self.times, self._clock())
        if expired is not None:
            return expired
        result = await self._run(event)
        return plan_after(event, result, config, self.times, self._clock())

    async def _run(self, event: AsyncEventRow) -> AttemptResult:
        """One attempt through the synchronous path."""
        try:
            invoker = self.invoker.in_region(event.region)
            target = await invoker.resolve(event.function_name, event.qualifier)
            age_ms = max(0.0, self._clock() - event.enqueued_at) * 1000
            self._metrics.async_age(event.region, event.function_name, event.qualifier, age_ms)
            result = await invoker.invoke(
                target,
                event.payload,
                trace_id=event.trace_id,
                request_id=event.id,
                queued_at=event.enqueued_at,
            )
        except TooManyRequests as exc:
            # Said once per event: a long throttle would otherwise fill the log.
            log.log(
                logging.INFO if event.throttles == 0 else logging.DEBUG,
                "async event %s for %s: throttled (%s); it waits without using an attempt",
                event.id,
                event.function_name,
                exc.reason,
            )
            return AttemptResult(Outcome.WAIT)
        except ResourceNotFound:
            return AttemptResult(Outcome.GONE)
        except LambdadError as exc:
            log.warning("async event %s for %s: %s", event.id, event.function_name, exc.message)
            if exc.status >= 500 or isinstance(exc, ResourceConflict):
                return AttemptResult(Outcome.WAIT)  # the platform's trouble, or not ready yet
            error = {"errorType": exc.code, "errorMessage": exc.message}
            response = {"statusCode": exc.status, "functionError": None, "payload": error}
            return AttemptResult(Outcome.REFUSED, response)
        response = response_of(200, result.executed_version, result.function_error, result.payload)
        outcome = Outcome.FUNCTION_ERROR if result.function_error else Outcome.SUCCESS
        return AttemptResult(outcome, response)

    async def _carry_out(self, event: AsyncEventRow, step: Step) -> None:
        if isinstance(step, Retry):
            if step.event.attempts > event.attempts:
                log.info(
                    "async event %s for %s: attempt %d failed; retrying in %.1f s",
                    event.id,
                    event.function_name,
                    step.event.attempts,
                    step.event.next_attempt_at - self._clock(),
                )
            await run_sync(self.events.reschedule, step.event)
        elif isinstance(step, Drop):
            log.warning(
                "async event %s for %s:%s: dropped, %s",
                event.id,
                event.function_name,
                event.qualifier,
                step.reason,
            )
            await run_sync(self.events.complete, event.id)
            # Counted once the queue no longer holds it: a scrape never sees both.
            self._metrics.async_dropped(event.region, event.function_name, event.qualifier)
        else:
            await self._finish(step)

    async def _finish(self, done: Done) -> None:
        event = done.event
        account = self.invoker.in_region(event.region).account
        arn = account.function_arn(event.function_name, event.qualifier)
        nxt = follow_up(done, arn, self._clock())
        if done.condition is not Condition.SUCCESS:
            where = f"sent to {done.destination}" if nxt else "no OnFailure destination, dropped"
            log.warning(
                "async event %s for %s: %s after %d attempt(s); %s",
                event.id,
                arn,
                done.condition.value,
                event.attempts,
                where,
            )
        await run_sync(self.events.complete, event.id, nxt)
        # Counted once the queue no longer holds the event: a scrape never sees both.
        if done.destination is not None and nxt is None:
            self._metrics.destination_failure(event.region, event.function_name, event.qualifier)
        if done.condition is not Condition.SUCCESS:
            # Sent to its OnFailure destination or not, the event is dropped (AWS counts both).
            self._metrics.async_dropped(event.region, event.function_name, event.qualifier)
        if nxt is not None:
            self._wake.set()

    async def _retry_later(self, event: AsyncEventRow) -> None:
        """After a failure of ours: wait as a throttled event does (1 s, 2 s, ...)."""
        try:
            config = EventInvokeConfig(event.function_name, event.qualifier)
            step = plan_after(event, AttemptResult(Outcome.WAIT), config, self.times, self._clock())
            assert isinstance(step, Retry)
            await run_sync(self.events.reschedule, step.event)
        except Exception:
            log.exception("async event %s: could not be rescheduled", event.id)
            await anyio.sleep(POLL_INTERVAL_S)
