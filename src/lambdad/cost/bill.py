"""What a workload would cost on AWS Lambda: usage rows priced into line items.

`price(usage, prices, free_tier)` takes the usage of whole calendar months
(`store.UsageRow`s: per day, region, function and price class) and returns
one `LineItem` per day, function and AWS usage type, as Cost Explorer shows
Lambda's charges:

    [PREFIX]Request[-ARM]                        requests
    [PREFIX]Lambda-GB-Second[-ARM]               on-demand duration (GB-s, tiered)
    [PREFIX]Lambda-Provisioned-GB-Second[-ARM]   duration of invocations on provisioned concurrency
    [PREFIX]Lambda-Provisioned-Concurrency[-ARM] configured provisioned concurrency (GB-s)
    [PREFIX]Lambda-SnapStart-Restore[-ARM]       SnapStart restores (GB restored)

AWS bills a month at once, so a month is priced whole and each line gets its
share: the free tier (1M requests and 400,000 GB-s a month, for on-demand
invocations: AWS's free tier does not apply to provisioned concurrency) is
taken off the month's eligible requests and GB-seconds, and each line pays its
proportion of the rest; the duration tiers apply to each region's and
architecture's month of on-demand GB-seconds, each line at the month's
average rate. The lines of a month sum to its bill exactly (up to float
rounding); a line's own figure is its fair share of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from lambdad.cost.prices import PriceTable
from lambdad.store import UsageRow

REQUESTS, GB_SECONDS, GB = "Requests", "GB-Seconds", "GB"


@dataclass(frozen=True)
class LineItem:
    day: str
    region: str
    function_name: str
    usage_type: str
    quantity: float
    unit: str
    cost: float


def price(usage: Iterable[UsageRow], prices: PriceTable, free_tier: bool = True) -> list[LineItem]:
    by_month: dict[str, list[UsageRow]] = defaultdict(list)
    for row in usage:
        by_month[row.day[:7]].append(row)
    items: list[LineItem] = []
    for month in sorted(by_month):
        items += _price_month(by_month[month], prices, free_tier)
    return items


def _price_month(rows: list[UsageRow], prices: PriceTable, free_tier: bool) -> list[LineItem]:
    on_demand = [r for r in rows if r.kind == "invocations" and not r.provisioned]
    eligible_requests = sum(r.count for r in on_demand)
    eligible_gbs = sum(r.gb_seconds for r in on_demand)
    free_requests = min(eligible_requests, prices.free_requests) if free_tier else 0
    free_gbs = min(eligible_gbs, prices.free_gb_seconds) if free_tier else 0.0
    paid_requests = _share_left(eligible_requests, free_requests)
    paid_gbs = _share_left(eligible_gbs, free_gbs)
    # The tiers: each region's and architecture's month of billable on-demand GB-s.
    billable: dict[tuple[str, str], float] = defaultdict(float)
    for r in on_demand:
        billable[r.region, r.architecture] += r.gb_seconds * paid_gbs
    rate = {
        key: prices.for_region(key[0]).of(key[1]).duration_cost(total) / total
        for key, total in billable.items()
        if total > 0
    }
    items: list[LineItem] = []
    for r in rows:
        region = prices.for_region(r.region)
        arch = region.of(r.architecture)
        suffix = "-ARM" if r.architecture == "arm64" else ""
        prefix = region.usage_type_prefix

        def item(usage_type: str, quantity: float, unit: str, cost: float, r: UsageRow = r) -> None:
            items.append(
                LineItem(r.day, r.region, r.function_name, usage_type, quantity, unit, cost)
            )

        if r.kind == "provisioned":
            cost = r.gb_seconds * arch.provisioned_concurrency
            item(f"{prefix}Lambda-Provisioned-Concurrency{suffix}", r.gb_seconds, GB_SECONDS, cost)
            continue
        if r.kind == "restores":  # no free tier for these
            item(
                f"{prefix}Lambda-SnapStart-Restore{suffix}", r.gb, GB, r.gb * arch.snapstart_restore
            )
            continue
        request_share = 1.0 if r.provisioned else paid_requests
        item(f"{prefix}Request{suffix}", r.count, REQUESTS, r.count * request_share * arch.request)
        if r.provisioned:
            cost = r.gb_seconds * arch.provisioned_duration
            item(f"{prefix}Lambda-Provisioned-GB-Second{suffix}", r.gb_seconds, GB_SECONDS, cost)
        else:
            cost = r.gb_seconds * paid_gbs * rate.get((r.region, r.architecture), 0.0)
            item(f"{prefix}Lambda-GB-Second{suffix}", r.gb_seconds, GB_SECONDS, cost)
    return items


def _share_left(total: float, free: float) -> float:
    """The part of every eligible unit that is paid for once `free` of `total` is free."""
    return 1.0 if total <= 0 else (total - free) / total
