"""Cost Explorer's view of the workload: `GetCostAndUsage` over the priced line items.

A query names a time period (days, the end exclusive), a granularity (DAILY
or MONTHLY periods, split at month boundaries as Cost Explorer splits them),
metrics, up to two dimensions to group by, and a filter expression (`And`,
`Or`, `Not`, `Dimensions` with `MatchOptions`). The dimensions an item has:

    SERVICE        "AWS Lambda"
    REGION         the function's region
    USAGE_TYPE     Lambda's usage types (`cost/bill.py`)
    RESOURCE_ID    the function's ARN (GetCostAndUsageWithResources only)
    RECORD_TYPE    "Usage"
    LINKED_ACCOUNT the server's account id

Every cost metric (UnblendedCost, BlendedCost, AmortizedCost, NetUnblendedCost,
NetAmortizedCost) is the same figure here: no discounts, reservations or
credits. UsageQuantity sums requests and GB-seconds, as Cost Explorer sums
mixed units (its unit is then "N/A"). Periods that reach past today are
`Estimated`, as the month under way is on AWS.
"""

from __future__ import annotations

import time
from calendar import monthrange
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lambdad.concurrency import run_sync
from lambdad.cost.bill import LineItem, price
from lambdad.cost.prices import PriceTable
from lambdad.errors import ValidationError
from lambdad.store import UsageStore

SERVICE = "AWS Lambda"
COST_METRICS = (
    "AmortizedCost",
    "BlendedCost",
    "NetAmortizedCost",
    "NetUnblendedCost",
    "UnblendedCost",
)
USAGE_QUANTITY = "UsageQuantity"
DIMENSIONS = ("SERVICE", "REGION", "USAGE_TYPE", "RESOURCE_ID", "RECORD_TYPE", "LINKED_ACCOUNT")
MATCH_OPTIONS = (
    "EQUALS",
    "STARTS_WITH",
    "ENDS_WITH",
    "CONTAINS",
    "CASE_SENSITIVE",
    "CASE_INSENSITIVE",
)
MAX_GROUPS = 2


@dataclass(frozen=True)
class Query:
    start: date
    end: date
    """Exclusive."""
    granularity: str
    metrics: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    filter: Mapping[str, Any] | None = None
    with_resources: bool = False
    free_tier: bool | None = None
    """None: the server's setting."""


@dataclass(frozen=True)
class Amount:
    amount: float
    unit: str


@dataclass
class Period:
    start: date
    end: date
    estimated: bool
    total: dict[str, Amount] = field(default_factory=dict)
    groups: list[tuple[tuple[str, ...], dict[str, Amount]]] = field(default_factory=list)


class CostExplorer:
    def __init__(
        self,
        store: UsageStore,
        prices: PriceTable,
        account_id: str,
        free_tier: bool = True,
        clock: Any = time.time,
    ) -> None:
        self.store = store
        self.prices = prices
        self.account_id = account_id
        self.free_tier = free_tier
        self.clock = clock

    async def cost_and_usage(self, query: Query) -> list[Period]:
        _check(query)
        # Whole months: the free tier and the tiers are the month's.
        first = query.start.replace(day=1)
        last_day = query.end - timedelta(days=1)
        last = last_day.replace(day=monthrange(last_day.year, last_day.month)[1])
        usage = await run_sync(self.store.usage, first.isoformat(), last.isoformat())
        free_tier = self.free_tier if query.free_tier is None else query.free_tier
        items = [
            i
            for i in price(usage, self.prices, free_tier)
            if query.start.isoformat() <= i.day < query.end.isoformat()
            and (query.filter is None or _matches(query.filter, self._dimensions(i)))
        ]
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        periods = []
        for start, end in _periods(query.start, query.end, query.granularity):
            inside = [i for i in items if start.isoformat() <= i.day < end.isoformat()]
            period = Period(start, end, estimated=end > today)
            if query.group_by:
                grouped: dict[tuple[str, ...], list[LineItem]] = defaultdict(list)
                for i in inside:
                    dims = self._dimensions(i)
                    grouped[tuple(dims[k] for k in query.group_by)].append(i)
                period.groups = [
                    (k, _metrics(v, query.metrics)) for k, v in sorted(grouped.items())
                ]
            else:
                period.total = _metrics(inside, query.metrics)
            periods.append(period)
        return periods

    def _dimensions(self, item: LineItem) -> dict[str, str]:
        arn = f"arn:aws:lambda:{item.region}:{self.account_id}:function:{item.function_name}"
        return {
            "SERVICE": SERVICE,
            "REGION": item.region,
            "USAGE_TYPE": item.usage_type,
            "RESOURCE_ID": arn,
            "RECORD_TYPE": "Usage",
            "LINKED_ACCOUNT": self.account_id,
        }


def _check(query: Query) -> None:
    if query.start >= query.end:
        raise ValidationError("Start date (and hour) should be before end date (and hour)")
    if query.granularity not in ("DAILY", "MONTHLY"):
        raise ValidationError(
            f"Granularity {query.granularity} is not supported here (DAILY or MONTHLY: "
            "lambdad keeps no hourly granularity)"
        )
    if not query.metrics:
        raise ValidationError("Metrics is required.")
    for metric in query.metrics:
        if metric not in (*COST_METRICS, USAGE_QUANTITY):
            raise ValidationError(f"Metric {metric} is not supported here.")
    if len(query.group_by) > MAX_GROUPS:
        raise ValidationError("You can group by at most two dimensions.")
    for key in query.group_by:
        _check_dimension(key, query.with_resources)
    if query.filter is not None:
        _check_expression(query.filter, query.with_resources)


def _check_dimension(key: str, with_resources: bool) -> None:
    if key not in DIMENSIONS:
        raise ValidationError(
            f"Dimension {key} is not supported here: lambdad's costs have " + ", ".join(DIMENSIONS)
        )
    if key == "RESOURCE_ID" and not with_resources:
        raise ValidationError("RESOURCE_ID is only available through GetCostAndUsageWithResources.")


def _check_expression(expression: Mapping[str, Any], with_resources: bool) -> None:
    given = [k for k, v in expression.items() if v is not None]
    if len(given) != 1:
        raise ValidationError("An expression must have exactly one of And, Or, Not, Dimensions.")
    kind = given[0]
    value = expression[kind]
    if kind in ("And", "Or"):
        if not isinstance(value, list) or len(value) < 2:
            raise ValidationError(f"{kind} needs at least two expressions.")
        for part in value:
            _check_expression(part, with_resources)
    elif kind == "Not":
        _check_expression(value, with_resources)
    elif kind == "Dimensions":
        _check_dimension(str(value.get("Key")), with_resources)
        for option in value.get("MatchOptions") or []:
            if option not in MATCH_OPTIONS:
                raise ValidationError(f"MatchOption {option} is not supported here.")
    else:
        raise ValidationError(f"Filtering by {kind} is not supported here (Dimensions only).")


def _matches(expression: Mapping[str, Any], dims: Mapping[str, str]) -> bool:
    if expression.get("And") is not None:
        return all(_matches(e, dims) for e in expression["And"])
    if expression.get("Or") is not None:
        return any(_matches(e, dims) for e in expression["Or"])
    if expression.get("Not") is not None:
        return not _matches(expression["Not"], dims)
    condition = expression["Dimensions"]
    actual = dims[condition["Key"]]
    options = set(condition.get("MatchOptions") or ["EQUALS"])
    values = [str(v) for v in condition.get("Values") or []]
    if "CASE_INSENSITIVE" in options:
        actual, values = actual.lower(), [v.lower() for v in values]
    if "STARTS_WITH" in options:
        return any(actual.startswith(v) for v in values)
    if "ENDS_WITH" in options:
        return any(actual.endswith(v) for v in values)
    if "CONTAINS" in options:
        return any(v in actual for v in values)
    return actual in values


def _periods(start: date, end: date, granularity: str) -> list[tuple[date, date]]:
    found = []
    while start < end:
        if granularity == "DAILY":
            stop = start + timedelta(days=1)
        else:
            days = monthrange(start.year, start.month)[1]
            stop = min(end, start.replace(day=1) + timedelta(days=days))
        found.append((start, stop))
        start = stop
    return found


def _metrics(items: Sequence[LineItem], metrics: Sequence[str]) -> dict[str, Amount]:
    cost = sum(i.cost for i in items)
    units = {i.unit for i in items}
    quantity = Amount(sum(i.quantity for i in items), units.pop() if len(units) == 1 else "N/A")
    return {m: quantity if m == USAGE_QUANTITY else Amount(cost, "USD") for m in metrics}
