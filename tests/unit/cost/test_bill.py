"""A known month's usage priced against a hand-computed bill (AWS's us-east-1 prices):
the free tier per calendar month, on and off, its tiers, arm64 and provisioned
concurrency; and price tables read from files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdad.cost import BadPriceTable, PriceTable, price
from lambdad.store import UsageRow

PRICES = PriceTable.load()


def row(
    day: str,
    function: str,
    gb_seconds: float,
    count: int = 0,
    arch: str = "x86_64",
    kind: str = "invocations",
    provisioned: bool = False,
    region: str = "us-east-1",
) -> UsageRow:
    return UsageRow(day, region, function, arch, kind, provisioned, count, gb_seconds)


OCTOBER = [
    row("2026-10-15", "big", 900_000, count=100),  # 100 x 15 min at 10 GB
    row("2026-10-15", "arm", 60_000, count=50, arch="arm64"),  # 50 x 10 min at 2 GB
]
NOVEMBER = [
    row("2026-11-03", "big", 360_000, count=40),
    row("2026-11-03", "big", 7_200, kind="provisioned", provisioned=True),  # 2 x 1 GB x 1 h
    row("2026-11-03", "big", 10, count=1, provisioned=True),  # ran on provisioned concurrency
]


def total(rows: list[UsageRow], free_tier: bool) -> float:
    return sum(i.cost for i in price(rows, PRICES, free_tier))


def test_a_month_over_the_free_tier() -> None:
    # 960,000 GB-s, 400,000 free: 7/12 of each line is paid; 150 requests, all free.
    # x86: 525,000 x 0.0000166667 = 8.75001750; arm64: 35,000 x 0.0000133334 = 0.46666900
    assert total(OCTOBER, free_tier=True) == pytest.approx(9.2166865, abs=1e-9)
    # Without it: 15.000030 + 0.800004 + 150 x 0.0000002
    assert total(OCTOBER, free_tier=False) == pytest.approx(15.800064, abs=1e-9)


def test_each_calendar_month_has_its_own_free_tier_and_provisioned_concurrency_none() -> None:
    # November: 360,000 on-demand GB-s and 40 requests are free; provisioned concurrency
    # (7,200 GB-s x 0.0000041667), its invocation's duration (10 x 0.0000097222) and
    # request (0.0000002) are not.
    assert total(NOVEMBER, free_tier=True) == pytest.approx(0.030097662, abs=1e-9)
    assert total(OCTOBER + NOVEMBER, free_tier=True) == pytest.approx(9.246784162, abs=1e-9)
    # 6.000012 + 40 x 0.0000002 + the same provisioned charges
    assert total(NOVEMBER, free_tier=False) == pytest.approx(6.030117662, abs=1e-9)


def test_line_items_carry_aws_usage_types_and_share_the_free_tier() -> None:
    items = price(OCTOBER, PRICES, free_tier=True)
    assert [(i.function_name, i.usage_type, i.quantity, i.unit) for i in items] == [
        ("big", "Request", 100, "Requests"),
        ("big", "Lambda-GB-Second", 900_000, "GB-Seconds"),
        ("arm", "Request-ARM", 50, "Requests"),
        ("arm", "Lambda-GB-Second-ARM", 60_000, "GB-Seconds"),
    ]
    assert items[1].cost == pytest.approx(8.7500175, abs=1e-9)
    west = price([row("2026-10-15", "f", 1, count=1, region="us-west-2")], PRICES, False)
    assert [i.usage_type for i in west] == ["USW2-Request", "USW2-Lambda-GB-Second"]
    provisioned = price(NOVEMBER[1:], PRICES, free_tier=True)
    assert [i.usage_type for i in provisioned] == [
        "Lambda-Provisioned-Concurrency",
        "Request",
        "Lambda-Provisioned-GB-Second",
    ]


def test_the_tiers_of_a_huge_month() -> None:
    x86 = PRICES.for_region("us-east-1").of("x86_64")
    # 6 billion at the first price, 9 billion at the second, 1 billion at the third.
    expected = 6e9 * 0.0000166667 + 9e9 * 0.000015 + 1e9 * 0.0000133334
    assert x86.duration_cost(16e9) == pytest.approx(expected, rel=1e-12)
    assert total([row("2026-10-01", "f", 16e9)], free_tier=False) == pytest.approx(expected)


def test_a_region_missing_from_the_table_is_priced_as_the_default_and_says_so() -> None:
    prices = PRICES.for_region("ap-south-2")
    assert (prices.priced_as, prices.usage_type_prefix) == ("us-east-1", "ap-south-2-")


def test_a_price_file_replaces_the_table(tmp_path: Path) -> None:
    data = json.loads(Path(PRICES_FILE).read_text())
    data["price_classes"]["standard"]["x86_64"]["requests_per_million"] = 1.0
    data["free_tier"] = {"requests": 0, "gb_seconds": 0}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data))
    table = PriceTable.load(path)
    assert total_with(table, [row("2026-10-01", "f", 0, count=10)]) == pytest.approx(1e-5)
    path.write_text('{"price_classes": {}}')
    with pytest.raises(BadPriceTable):
        PriceTable.load(path)


PRICES_FILE = Path(__file__).parents[3] / "src" / "lambdad" / "cost" / "prices.json"


def total_with(table: PriceTable, rows: list[UsageRow]) -> float:
    return sum(i.cost for i in price(rows, table, free_tier=True))


def test_snapstart_restores_are_charged_per_gb_restored_without_free_tier() -> None:
    restores = [
        UsageRow("2026-10-15", "us-east-1", "snap", "x86_64", "restores", False, 1000, 0.0, 500.0),
        UsageRow("2026-10-15", "eu-west-1", "snap", "arm64", "restores", False, 10, 0.0, 20.0),
    ]
    items = price(restores, PRICES, free_tier=True)
    assert [(i.usage_type, i.quantity, i.unit) for i in items] == [
        ("Lambda-SnapStart-Restore", 500.0, "GB"),  # 1,000 restores of 512 MB
        ("EU-Lambda-SnapStart-Restore-ARM", 20.0, "GB"),
    ]
    # AWS's price per GB restored (us-east-1); the free tier does not cover restores.
    assert items[0].cost == pytest.approx(500 * 0.0001397998)
    assert items[1].cost == pytest.approx(20 * 0.0001397998)


def test_a_price_table_without_a_restore_price_prices_restores_at_nothing() -> None:
    data = json.loads(PRICES_FILE.read_text())
    for arch in data["price_classes"]["standard"].values():
        del arch["snapstart_restore_gb"]
    table = PriceTable.parse(data)
    row = UsageRow("2026-10-15", "us-east-1", "snap", "x86_64", "restores", False, 1, 0.0, 1.0)
    assert price([row], table)[0].cost == 0.0
