"""The primary's Prometheus scrape counts every process's invocations.

Each server process records its own invocations (`telemetry/metrics.py`), so with
`--workers N` the primary's `/metrics` (and `--metrics-listen`) asks every
secondary for its numbers over the change bus at each scrape (a bounded wait: the
bus's ack timeout), and adds them to its own (`telemetry/scrape.py` says how).
CloudWatch's queries read the store: before the primary answers one, every
secondary stores what its recorder holds (`MetricsRecorder.flush_others_with`),
as its log writer does before a read of log events.

Counters stay monotonic when a secondary is restarted: the primary keeps each
secondary's last answer, and when a worker answers with another pid, the last
counters of the one before are kept for good (what it counted after that answer
is lost, as a single server loses what it counted after its last scrape). A
secondary that does not answer now still counts with its last counters, and its
gauges are left out (its environments are gone or unknown).

A scrape runs in a thread (`run_sync`, or the `--metrics-listen` server's own),
so the question is put on the event loop with the loop's token, taken at `start`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import anyio.from_thread
import anyio.lowlevel

from lambdad.telemetry.prometheus import LambdaCollector
from lambdad.telemetry.scrape import Scrape
from lambdad.workers.bus import ChangeBus

log = logging.getLogger(__name__)

ASK = {"kind": "metrics"}


class MetricsOfSecondaries:
    """The primary's side: the secondaries' scrapes, for its collector (`sum_with`)."""

    def __init__(self, bus: ChangeBus, collector: LambdaCollector) -> None:
        self.bus = bus
        self._token: anyio.lowlevel.EventLoopToken | None = None
        self._loop_thread = 0
        self._last: dict[int, tuple[int, Scrape]] = {}
        """worker -> (pid, its last scrape)"""
        self._ended = Scrape()
        """The counters of secondaries that were replaced."""
        collector.sum_with(self.scrapes)

    def start(self) -> None:
        """On the event loop, before the first scrape."""
        self._token = anyio.lowlevel.current_token()
        self._loop_thread = threading.get_ident()

    def scrapes(self) -> list[Scrape]:
        """In a scrape's thread: every secondary's numbers (none on the loop's own
        thread, which would wait for itself)."""
        if self._token is None or threading.get_ident() == self._loop_thread:
            return []
        return anyio.from_thread.run(self.ask, token=self._token)

    async def ask(self) -> list[Scrape]:
        answered: set[int] = set()
        for answer in await self.bus.publish(dict(ASK)):
            try:
                worker, pid = int(answer["worker"]), int(answer["pid"])
                scrape = Scrape.from_json(answer["scrape"])
            except (KeyError, TypeError, ValueError):
                if answer is not None:
                    log.error("metrics: a worker's answer could not be read")
                continue
            last = self._last.get(worker)
            if last is not None and last[0] != pid:
                self._ended.add(last[1].counters())  # a new process in its place
            self._last[worker] = (pid, scrape)
            answered.add(worker)
        scrapes = [self._ended]
        for worker, (_, scrape) in self._last.items():
            scrapes.append(scrape if worker in answered else scrape.counters())
        return scrapes


class SecondaryMetrics:
    """A secondary's side: its numbers for the primary's scrape, and its recorder
    flushed before the primary answers a CloudWatch query (as its log writer is
    before a read of log events)."""

    def __init__(self, worker: int, pid: int, collector: LambdaCollector) -> None:
        self.worker = worker
        self.pid = pid
        self.collector = collector

    def answer(self) -> dict[str, Any]:
        """Blocking (the gauges read the pool): run it in a thread."""
        return {"worker": self.worker, "pid": self.pid, "scrape": self.collector.scrape().to_json()}

    async def flush(self) -> None:
        await self.collector.recorder.flush()
