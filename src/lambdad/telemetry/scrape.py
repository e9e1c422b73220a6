"""One process's Prometheus numbers at a scrape, and their sum over processes.

With `--workers N` each server process records its own invocations, so the
primary's `/metrics` adds the secondaries' scrapes to its own (`workers/metrics.py`
asks them over the change bus). A `Scrape` is what the collector renders: the
recorder's cumulative counters (invocations, errors, throttles, durations, async
events, cold-start phases, queue waits) and the gauges read then.

How they add up, as a Prometheus user reads one server:

- counters add: the series are the same as with one process, and stay monotonic
  while processes come and go (the primary keeps a restarted secondary's last
  counters; see `workers/metrics.py`);
- a gauge of what each process holds (invocations in flight by function,
  environments by state) adds too: a function's environments are its
  environments, whichever process runs them, and a dashboard or alert written
  for one process reads the same series with N (a `worker` label would split
  every series N ways and say which process the kernel's hash picked, nothing
  about the function);
- a gauge already over the whole server (the region's concurrency, from the
  shared counters; the async queue's depth, from the store) is `per_process`
  False: taken once, from the primary.

It travels as JSON (`to_json`/`from_json`): plain lists, no lambdad types.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lambdad.telemetry.metrics import DURATION_BOUNDS_MS, MetricsRecorder, PhaseTotals, Totals

TotalsKey = tuple[str, str, str, str]
"""(region, function, resource, executed version)"""
K = TypeVar("K")


@dataclass(frozen=True)
class Gauge:
    """One gauge family read at scrape time: name, help, label names and samples.
    `per_process`: each process holds its own share (summed over processes), else the
    value is the whole server's already (taken once)."""

    name: str
    documentation: str
    labels: list[str]
    samples: list[tuple[list[str], float]]
    per_process: bool = True


@dataclass
class Scrape:
    totals: dict[TotalsKey, Totals] = field(default_factory=dict)
    async_totals: dict[tuple[str, str, str], int] = field(default_factory=dict)
    cold_starts: dict[tuple[str, str, str], PhaseTotals] = field(default_factory=dict)
    queue_waits: dict[tuple[str, str], PhaseTotals] = field(default_factory=dict)
    gauges: list[Gauge] = field(default_factory=list)

    @classmethod
    def take(cls, recorder: MetricsRecorder, gauges: Iterable[Gauge] = ()) -> Scrape:
        """The recorder's totals now (copies: the recorder goes on counting)."""
        return cls(
            {k: _copy_totals(t) for k, t in list(recorder.totals.items())},
            dict(recorder.async_totals),
            {k: PhaseTotals(t.count, t.total_ms) for k, t in list(recorder.cold_starts.items())},
            {k: PhaseTotals(t.count, t.total_ms) for k, t in list(recorder.queue_waits.items())},
            list(gauges),
        )

    def counters(self) -> Scrape:
        """The counters alone (what a process that ended still counts for)."""
        return Scrape(self.totals, self.async_totals, self.cold_starts, self.queue_waits)

    def add(self, other: Scrape) -> None:
        """`other`'s counters and per-process gauges added to these (see the module doc)."""
        for key, t in other.totals.items():
            mine = self.totals.get(key)
            if mine is None:
                self.totals[key] = _copy_totals(t)
                continue
            mine.invocations += t.invocations
            mine.errors += t.errors
            mine.throttles += t.throttles
            mine.duration_ms += t.duration_ms
            mine.duration_counts = [
                a + b for a, b in zip(mine.duration_counts, t.duration_counts, strict=True)
            ]
        for event, n in other.async_totals.items():
            self.async_totals[event] = self.async_totals.get(event, 0) + n
        _add_phases(self.cold_starts, other.cold_starts)
        _add_phases(self.queue_waits, other.queue_waits)
        self.gauges = _sum_gauges(self.gauges, [g for g in other.gauges if g.per_process])

    def to_json(self) -> dict[str, Any]:
        return {
            "totals": [
                [*key, t.invocations, t.errors, t.throttles, t.duration_ms, t.duration_counts]
                for key, t in self.totals.items()
            ],
            "async": [[*key, n] for key, n in self.async_totals.items()],
            "cold_starts": [[*key, p.count, p.total_ms] for key, p in self.cold_starts.items()],
            "queue_waits": [[*key, p.count, p.total_ms] for key, p in self.queue_waits.items()],
            "gauges": [
                [g.name, g.documentation, g.labels, g.samples] for g in self.gauges if g.per_process
            ],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Scrape:
        """Raises ValueError (or KeyError, TypeError) on what `to_json` did not write."""
        scrape = cls()
        for region, function, resource, version, n, errors, throttles, ms, counts in raw["totals"]:
            if len(counts) != len(DURATION_BOUNDS_MS) + 1:
                raise ValueError("duration buckets")
            key = (str(region), str(function), str(resource), str(version))
            counts = [int(c) for c in counts]
            scrape.totals[key] = Totals(int(n), int(errors), int(throttles), float(ms), counts)
        for region, function, metric, n in raw["async"]:
            scrape.async_totals[(str(region), str(function), str(metric))] = int(n)
        for region, function, phase, count, ms in raw["cold_starts"]:
            scrape.cold_starts[(str(region), str(function), str(phase))] = PhaseTotals(
                int(count), float(ms)
            )
        for region, function, count, ms in raw["queue_waits"]:
            scrape.queue_waits[(str(region), str(function))] = PhaseTotals(int(count), float(ms))
        for name, documentation, labels, samples in raw["gauges"]:
            values = [([str(v) for v in vs], float(x)) for vs, x in samples]
            scrape.gauges.append(
                Gauge(str(name), str(documentation), [str(x) for x in labels], values)
            )
        return scrape


def _copy_totals(t: Totals) -> Totals:
    return Totals(t.invocations, t.errors, t.throttles, t.duration_ms, list(t.duration_counts))


def _add_phases(mine: dict[K, PhaseTotals], theirs: dict[K, PhaseTotals]) -> None:
    for key, p in theirs.items():
        found = mine.get(key)
        if found is None:
            found = mine[key] = PhaseTotals()
        found.count += p.count
        found.total_ms += p.total_ms


def _sum_gauges(mine: list[Gauge], theirs: list[Gauge]) -> list[Gauge]:
    """`theirs` added to `mine`, sample by sample (by family name and label values)."""
    families = {g.name: g for g in mine}
    for gauge in theirs:
        found = families.get(gauge.name)
        if found is None:
            families[gauge.name] = Gauge(
                gauge.name, gauge.documentation, gauge.labels, list(gauge.samples)
            )
            continue
        values = {tuple(labels): value for labels, value in found.samples}
        for labels, value in gauge.samples:
            values[tuple(labels)] = values.get(tuple(labels), 0.0) + value
        samples = [(list(labels), value) for labels, value in values.items()]
        families[gauge.name] = Gauge(
            found.name, found.documentation, found.labels, samples, found.per_process
        )
    return list(families.values())
