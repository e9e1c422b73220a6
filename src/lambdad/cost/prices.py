"""AWS's published Lambda prices, per region and architecture, from a JSON table.

The table in the repo (`prices.json`, its source and date in `_source` and the
package's README) is used unless the operator names another file
(`lambdad server --prices FILE`, `LAMBDAD_PRICES`), of the same shape:

    {"currency": "USD",
     "free_tier": {"requests": 1000000, "gb_seconds": 400000},
     "price_classes": {"standard": {"x86_64": {...}, "arm64": {...}}},
     "regions": {"us-east-1": {"price_class": "standard", "usage_type_prefix": ""}},
     "default_region": "us-east-1"}

Each architecture's prices: `requests_per_million`, `duration_tiers` (a list of
[GB-seconds in the tier or null for the rest, price per GB-second], applied to
a month's on-demand GB-seconds in order), `provisioned_concurrency_gb_second`
(configured concurrency x memory x time), `provisioned_duration_gb_second`
(invocations that ran on provisioned concurrency) and `snapstart_restore_gb`
(each SnapStart restore, per GB of the function's memory; a table without it
prices restores at 0). A region missing from the table is priced as
`default_region`, and says so (`RegionPrices.priced_as`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from lambdad.errors import ServiceError

ARCHITECTURES = ("x86_64", "arm64")


class BadPriceTable(ServiceError):
    """A price file that is not a price table (the server refuses to start with it)."""


@dataclass(frozen=True)
class ArchitecturePrices:
    request: float
    """Per request."""
    duration_tiers: tuple[tuple[float | None, float], ...]
    provisioned_concurrency: float
    provisioned_duration: float
    snapstart_restore: float = 0.0
    """Per GB restored (a SnapStart restore of a function of that memory size)."""

    def duration_cost(self, gb_seconds: float) -> float:
        """A month's on-demand GB-seconds priced through the tiers."""
        cost, left = 0.0, gb_seconds
        for size, price in self.duration_tiers:
            used = left if size is None else min(left, size)
            cost += used * price
            left -= used
            if left <= 0:
                break
        return cost


@dataclass(frozen=True)
class RegionPrices:
    region: str
    priced_as: str
    """The region whose prices these are (`region` itself, or the table's default)."""
    usage_type_prefix: str
    architectures: dict[str, ArchitecturePrices]

    def of(self, architecture: str) -> ArchitecturePrices:
        return self.architectures.get(architecture) or self.architectures["x86_64"]


@dataclass(frozen=True)
class PriceTable:
    currency: str
    free_requests: int
    free_gb_seconds: float
    source: str
    classes: dict[str, dict[str, ArchitecturePrices]]
    regions: dict[str, tuple[str, str]]
    default_region: str

    def for_region(self, region: str) -> RegionPrices:
        priced_as = region if region in self.regions else self.default_region
        price_class, prefix = self.regions[priced_as]
        if priced_as != region:
            prefix = f"{region}-"  # not AWS's billing code: the table has none for it
        return RegionPrices(region, priced_as, prefix, self.classes[price_class])

    @staticmethod
    def load(path: str | Path | None = None) -> PriceTable:
        """The table at `path`, or the one in the repo."""
        try:
            if path is None:
                text = resources.files("lambdad.cost").joinpath("prices.json").read_text()
            else:
                text = Path(path).read_text()
            return PriceTable.parse(json.loads(text))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise BadPriceTable(f"price table {path or 'prices.json'}: {exc!r}") from exc

    @staticmethod
    def parse(data: dict[str, Any]) -> PriceTable:
        classes = {
            name: {arch: _architecture(prices[arch]) for arch in ARCHITECTURES}
            for name, prices in data["price_classes"].items()
        }
        regions = {
            region: (entry["price_class"], str(entry.get("usage_type_prefix", "")))
            for region, entry in data["regions"].items()
        }
        for region, (price_class, _prefix) in regions.items():
            if price_class not in classes:
                raise KeyError(f"{region}: no price class {price_class}")
        default = data.get("default_region") or next(iter(regions))
        if default not in regions:
            raise KeyError(f"default_region {default} is not in regions")
        free = data.get("free_tier") or {}
        return PriceTable(
            currency=str(data.get("currency", "USD")),
            free_requests=int(free.get("requests", 0)),
            free_gb_seconds=float(free.get("gb_seconds", 0)),
            source=str(data.get("_source", "")),
            classes=classes,
            regions=regions,
            default_region=default,
        )


def _architecture(data: dict[str, Any]) -> ArchitecturePrices:
    tiers = tuple(
        (None if size is None else float(size), float(price))
        for size, price in data["duration_tiers"]
    )
    if not tiers or tiers[-1][0] is not None:
        raise ValueError("duration_tiers must end with an unbounded tier [null, price]")
    return ArchitecturePrices(
        request=float(data["requests_per_million"]) / 1_000_000,
        duration_tiers=tiers,
        provisioned_concurrency=float(data["provisioned_concurrency_gb_second"]),
        provisioned_duration=float(data["provisioned_duration_gb_second"]),
        snapstart_restore=float(data.get("snapstart_restore_gb", 0.0)),
    )
