"""The recorder's metrics in Prometheus' text format (the official client library).

A custom collector reads the recorder's cumulative totals when scraped (nothing
is registered per invocation), plus gauges read then from their owners (in-flight
concurrency, environments by state, the async queue's depth). Series are the
finest AWS dimensions as labels (function_name, resource = name:qualifier or "",
executed_version), so sums over labels give the coarser ones.

Scrapes run in a worker thread (the main API's `/metrics` through `run_sync`, the
`--metrics-listen` server in its own thread): the collector copies the
recorder's dicts (an atomic copy under the GIL) before reading them. With
`--workers N` the primary's collector adds the other processes' numbers
(`sum_with`; `scrape.py` says how they add up).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from threading import Thread
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from lambdad.telemetry.metrics import DURATION_BOUNDS_MS, MetricsRecorder
from lambdad.telemetry.scrape import Gauge, Scrape

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LABELS = ["region", "function_name", "resource", "executed_version"]


GaugeSource = Callable[[], Iterable[Gauge]]
ScrapeSource = Callable[[], Iterable[Scrape]]
"""Other processes' scrapes (`--workers N`), added to this one's."""


class LambdaCollector(Collector):
    def __init__(self, recorder: MetricsRecorder, gauges: GaugeSource | None = None) -> None:
        self.recorder = recorder
        self.gauges = gauges
        self.others: ScrapeSource | None = None

    def sum_with(self, others: ScrapeSource) -> None:
        """Add `others` (called at each scrape, in its thread) to this process's numbers."""
        self.others = others

    def scrape(self) -> Scrape:
        """This process's numbers."""
        return Scrape.take(self.recorder, () if self.gauges is None else self.gauges())

    def collect(self) -> Iterator[Metric]:
        scrape = self.scrape()
        for other in self.others() if self.others is not None else ():
            scrape.add(other)
        yield from self._invocations(scrape)
        yield from self._async(scrape)
        yield from self._cold_starts(scrape)
        for gauge in scrape.gauges:
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
            for values, value in gauge.samples:
                family.add_metric(values, value)
            yield family

    def _invocations(self, scrape: Scrape) -> Iterator[Metric]:
        totals = scrape.totals
        invocations = CounterMetricFamily(
            "lambda_invocations", "Invocations that ran (AWS/Lambda Invocations)", labels=LABELS
        )
        errors = CounterMetricFamily(
            "lambda_errors", "Invocations that ended in a function error", labels=LABELS
        )
        throttles = CounterMetricFamily(
            "lambda_throttles", "Invocations refused for concurrency", labels=LABELS[:3]
        )
        duration = HistogramMetricFamily(
            "lambda_duration_seconds", "Time the function code ran", labels=LABELS
        )
        for (region, function, resource, version), t in totals.items():
            labels = [region, function, resource, version]
            if t.throttles:
                throttles.add_metric(labels[:3], t.throttles)
            if not t.invocations:
                continue
            invocations.add_metric(labels, t.invocations)
            errors.add_metric(labels, t.errors)
            counts = list(t.duration_counts)
            buckets, running = [], 0
            for bound, n in zip([*DURATION_BOUNDS_MS, float("inf")], counts, strict=True):
                running += n
                le = "+Inf" if bound == float("inf") else repr(bound / 1000)
                buckets.append((le, running))
            duration.add_metric(labels, buckets, t.duration_ms / 1000)
        yield from (invocations, errors, throttles, duration)

    def _async(self, scrape: Scrape) -> Iterator[Metric]:
        names = {
            "AsyncEventsReceived": "lambda_async_events_received",
            "AsyncEventsDropped": "lambda_async_events_dropped",
            "DestinationDeliveryFailures": "lambda_destination_delivery_failures",
        }
        families = {
            metric: CounterMetricFamily(name, f"AWS/Lambda {metric}", labels=LABELS[:2])
            for metric, name in names.items()
        }
        for (region, function, metric), n in scrape.async_totals.items():
            families[metric].add_metric([region, function], n)
        yield from families.values()

    def _cold_starts(self, scrape: Scrape) -> Iterator[Metric]:
        family = SummaryMetricFamily(
            "lambdad_cold_start_phase_seconds",
            "Cold starts by phase, as the server log names them (sandbox, runtime start and "
            "Init; for a ready environment: mounts and limits, Init)",
            labels=["region", "function_name", "phase"],
        )
        for (region, function, phase), t in scrape.cold_starts.items():
            family.add_metric([region, function, phase], t.count, t.total_ms / 1000)
        yield family
        waits = SummaryMetricFamily(
            "lambdad_queue_wait_seconds",
            "Waits in line for a busy environment instead of a cold start (LAMBDAD_QUEUE_WAIT_"
            "MAX_S), served or not; CloudWatch: Lambdad QueueWaitDuration",
            labels=LABELS[:2],
        )
        for (region, function), t in scrape.queue_waits.items():
            waits.add_metric([region, function], t.count, t.total_ms / 1000)
        yield waits


def new_registry(recorder: MetricsRecorder, gauges: GaugeSource | None = None) -> CollectorRegistry:
    return registry_of(LambdaCollector(recorder, gauges))


def registry_of(collector: LambdaCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus' text format (blocking: run it in a thread)."""
    return generate_latest(registry)


class MetricsListener:
    """`--metrics-listen HOST:PORT`: /metrics for a scraper, unauthenticated, in a thread."""

    def __init__(self, address: str, registry: CollectorRegistry) -> None:
        host, _, port = address.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        self.port = int(port)
        self.registry = registry
        self._server: Any = None
        self._thread: Thread | None = None

    def start(self) -> None:
        self._server, self._thread = start_http_server(
            self.port, addr=self.host, registry=self.registry
        )
        log.info("metrics: Prometheus /metrics on http://%s:%d (unauthenticated)", *self.address)

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            return self.host, self.port
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
