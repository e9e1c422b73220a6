"""CloudWatch's metric queries over the recorder: statistics per period, metric lists.

Periods are whole minutes (lambdad keeps 1-minute resolution, as CloudWatch
does for Lambda), aligned on multiples of the period since the epoch; a period
without data has no data point, as in CloudWatch. Percentiles (`p50`, `p99.9`)
come from the merged log-scale histograms of the period's minutes, within
`histogram.RELATIVE_ERROR`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdad.telemetry.histogram import Aggregate
from lambdad.telemetry.metrics import QUEUE_WAIT, Dims, MetricsRecorder

NAMESPACE = "AWS/Lambda"
OWN_NAMESPACE = "Lambdad"
"""lambdad's own metrics, which AWS/Lambda has not (a custom namespace: no AWS/ prefix)."""
OWN_METRICS = frozenset({QUEUE_WAIT})
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"p(\d{1,2}(\.\d{1,10})?|100(\.0{1,10})?)")
UNITS = {
    "Duration": "Milliseconds",
    "AsyncEventAge": "Milliseconds",
    QUEUE_WAIT: "Milliseconds",
    "ProvisionedConcurrencyUtilization": "None",
}
LIST_WINDOW_S = 14 * 86400.0
"""ListMetrics lists metrics with data in the last two weeks."""


def is_statistic(name: str) -> bool:
    """A statistic this server computes: the five basic ones and percentiles."""
    return name in STATISTICS or _PERCENTILE.fullmatch(name) is not None


def namespace_of(metric: str) -> str:
    return OWN_NAMESPACE if metric in OWN_METRICS else NAMESPACE


def unit_of(metric: str) -> str:
    return UNITS.get(metric, "Count")


def value_of(aggregate: Aggregate, stat: str) -> float:
    if stat == "SampleCount":
        return aggregate.count
    if stat == "Sum":
        return aggregate.total
    if stat == "Average":
        return aggregate.average
    if stat == "Minimum":
        return aggregate.minimum
    if stat == "Maximum":
        return aggregate.maximum
    return aggregate.percentile(float(stat[1:]))


@dataclass(frozen=True)
class MetricId:
    namespace: str
    name: str
    dims: Dims


async def periods(
    recorder: MetricsRecorder,
    region: str,
    metric: MetricId,
    start: float,
    end: float,
    period: int,
) -> list[tuple[int, Aggregate]]:
    """The metric's aggregate per period in [start, end), oldest first."""
    if metric.namespace != namespace_of(metric.name):
        return []
    minutes = await recorder.minutes(region, metric.name, metric.dims, start, end)
    found: dict[int, Aggregate] = {}
    for minute in sorted(minutes):
        at = minute // period * period
        if at in found:
            found[at].merge(minutes[minute])
        else:
            found[at] = minutes[minute]
    return sorted(found.items())


async def list_metrics(
    recorder: MetricsRecorder,
    region: str,
    since: float,
    namespace: str | None,
    name: str | None,
    wanted: list[tuple[str, str | None]],
) -> list[MetricId]:
    """The metrics with data since `since` that have every wanted dimension (and
    value, where one is given), in a stable order."""
    found: list[MetricId] = []
    for metric, dims in await recorder.series_names(region, since):
        if (name is not None and metric != name) or namespace not in (None, namespace_of(metric)):
            continue
        have = dict(dims)
        if all(key in have and (value is None or have[key] == value) for key, value in wanted):
            found.append(MetricId(namespace_of(metric), metric, dims))
    return sorted(found, key=lambda m: (m.namespace, m.name, m.dims))
