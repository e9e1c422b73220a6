"""The gauges `/metrics` reads when scraped: concurrency in flight, environments by
state, and the async queue's depth, each from the part that owns it.

Called in a scrape's worker thread: it only reads (copies of) in-memory counts,
and the queue's depth with one query.
"""

from __future__ import annotations

from collections.abc import Iterator

from lambdad.invoke.invoker import Invoker
from lambdad.pool import EnvironmentPool
from lambdad.store import AsyncEventStore
from lambdad.telemetry.prometheus import GaugeSource
from lambdad.telemetry.scrape import Gauge


def live_gauges(
    invoker: Invoker, pool: EnvironmentPool, events: AsyncEventStore | None
) -> GaugeSource:
    """`events`: None in a `--workers` secondary (the queue is the primary's to report)."""

    def gauges() -> Iterator[Gauge]:
        in_flight: list[tuple[list[str], float]] = []
        account: list[tuple[list[str], float]] = []
        unreserved: list[tuple[list[str], float]] = []
        for region, regional in invoker.regions().items():
            limiter = regional.limiter
            for name, n in limiter.in_flight_by_function().items():
                in_flight.append(([region, name], n))
            account.append(([region], limiter.total))
            unreserved.append(([region], limiter.unreserved_in_flight))
        yield Gauge(
            "lambda_concurrent_executions",
            "Invocations in flight, by function",
            ["region", "function_name"],
            in_flight,
        )
        # Over every process already (`--workers`: the shared account counters).
        yield Gauge(
            "lambda_account_concurrent_executions",
            "Invocations in flight in the region",
            ["region"],
            account,
            per_process=False,
        )
        yield Gauge(
            "lambda_unreserved_concurrent_executions",
            "Invocations in flight of functions without reserved concurrency",
            ["region"],
            unreserved,
            per_process=False,
        )
        environments = [
            ([arn.split(":")[3], arn.rsplit(":", 1)[-1], state], float(n))
            for (arn, state), n in pool.census().items()
        ]
        yield Gauge(
            "lambdad_environments",
            "Execution environments by state (starting, busy, frozen between invocations)",
            ["region", "function_name", "state"],
            environments,
        )
        if events is None:
            return
        depth = [([region, name], float(n)) for (region, name), n in events.depth().items()]
        yield Gauge(
            "lambdad_async_queue_depth",
            "Async events queued (due or waiting for a retry)",
            ["region", "function_name"],
            depth,
            per_process=False,  # the store's
        )

    return gauges
