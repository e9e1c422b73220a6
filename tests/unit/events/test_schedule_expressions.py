"""Schedule expressions: AWS's documented examples parse, malformed ones are refused,
and next fire times follow AWS's rules (L, W, #, time zones, daylight saving time)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from lambdad.events import (
    At,
    Cron,
    InvalidScheduleExpression,
    InvalidTimezone,
    Rate,
    next_fire,
    parse,
    timezone,
)

UTC_ZONE = timezone(None)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fires(expression: str, after: datetime, count: int, zone: str | None = None) -> list[str]:
    """The next `count` fire times after `after`, as UTC ISO strings."""
    parsed = parse(expression, allow_at=True)
    found: list[str] = []
    for _ in range(count):
        nxt = next_fire(parsed, after, timezone(zone), anchor=after)
        if nxt is None:
            break
        found.append(nxt.strftime("%Y-%m-%dT%H:%M"))
        after = nxt
    return found


# AWS's documented examples (EventBridge "Schedule expressions" and Scheduler's
# "Schedule types"), and the other forms the syntax allows.
VALID = [
    "rate(1 minute)",
    "rate(5 minutes)",
    "rate(1 hour)",
    "rate(12 hours)",
    "rate(1 day)",
    "rate(7 days)",
    "cron(0 10 * * ? *)",
    "cron(15 12 * * ? *)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(0 8 1 * ? *)",
    "cron(0/15 * * * ? *)",
    "cron(0/10 * ? * MON-FRI *)",
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0 9 ? * 2#1 *)",
    "cron(0 0 L * ? *)",
    "cron(0 0 ? * 6L *)",
    "cron(0 0 15W * ? *)",
    "cron(0 0 1W * ? *)",
    "cron(0 12 ? * L *)",
    "cron(30 2 ? JAN,JUL SUN 2027-2030)",
    "cron(0 0 1 1 ? 2027)",
    "cron(* * * * ? *)",
    "cron(0-15/1 8-8 ? * 2,3,4,5,6,7 *)",
    "cron(30-30 13-13 ? * 2,4,6 *)",
    "cron(1-31/30 1-1 ? * 1,7 *)",
    "cron(0 0 1/10,2,3/8 * ? *)",
    "cron(0 0 ? * mon *)",
    "at(2027-03-05T14:30:00)",
]


@pytest.mark.parametrize("expression", VALID)
def test_aws_examples_parse(expression: str) -> None:
    assert isinstance(parse(expression, allow_at=True), Rate | Cron | At)


INVALID = [
    ("rate(1 minutes)", "takes the unit 'minute'"),
    ("rate(5 minute)", "takes the unit 'minutes'"),
    ("rate(0 minutes)", "positive"),
    ("rate(5 seconds)", "not minute"),
    ("rate(5)", "schedule expression is"),
    ("rate(-1 minutes)", "schedule expression is"),
    ("rate(1.5 hours)", "schedule expression is"),
    ("cron(0 10 * * *)", "six fields, not 5"),
    ("cron(0 0 10 * * * *)", "six fields, not 7"),
    ("cron(0 10 * * * *)", "exactly one of"),
    ("cron(0 10 ? * ? *)", "exactly one of"),
    ("cron(0 10 1 * MON *)", "exactly one of"),
    ("cron(60 10 * * ? *)", "'60' is not in 0-59"),
    ("cron(0 24 * * ? *)", "'24' is not in 0-23"),
    ("cron(0 0 32 * ? *)", "'32' is not in 1-31"),
    ("cron(0 0 0 * ? *)", "'0' is not in 1-31"),
    ("cron(0 0 1 13 ? *)", "'13' is not in 1-12"),
    ("cron(0 0 ? * 8 *)", "'8' is not in 1-7"),
    ("cron(0 0 ? * 0 *)", "'0' is not in 1-7"),
    ("cron(0 0 1 * ? 1969)", "1970-2199"),
    ("cron(0 0 1 * ? 2200)", "1970-2199"),
    ("cron(0 0 1 FOO ? *)", "'FOO'"),
    ("cron(0 0 ? * FUN *)", "'FUN'"),
    ("cron(10-5 * * * ? *)", "backwards"),
    ("cron(0/0 * * * ? *)", "step"),
    ("cron(0 0 L,1 * ? *)", "'L"),
    ("cron(0 0 ? * 2#6 *)", "'6' is not in 1-5"),
    ("cron(0 0 ? * 9#1 *)", "'9' is not in 1-7"),
    ("cron(0 0 32W * ? *)", "'32'"),
    ("cron(*-5 * * * ? *)", "not valid"),
    ("cron(0 0 ? * MON-FRI,L *)", "'L'"),
    ("cron()", "six fields, not 0"),
    ("at(2027-02-30T10:00:00)", "no real date"),
    ("at(2027-02-03 10:00:00)", "schedule expression is"),
    ("at(2027-02-03T10:00)", "schedule expression is"),
    ("every 5 minutes", "schedule expression is"),
    ("0 10 * * ? *", "schedule expression is"),
    ("", "schedule expression is"),
]


@pytest.mark.parametrize(("expression", "why"), INVALID)
def test_malformed_expressions_are_refused(expression: str, why: str) -> None:
    with pytest.raises(InvalidScheduleExpression) as raised:
        parse(expression, allow_at=True)
    assert why in raised.value.message
    assert raised.value.code == "ValidationException"
    assert raised.value.status == 400
    assert raised.value.expression == expression


def test_at_is_only_for_the_scheduler() -> None:
    with pytest.raises(InvalidScheduleExpression, match=r"rate\(\.\.\.\) or cron"):
        parse("at(2027-03-05T14:30:00)")


def test_rate_counts_from_its_anchor() -> None:
    anchor = utc(2027, 1, 1, 10, 0, 30)
    rate = parse("rate(5 minutes)")
    assert next_fire(rate, utc(2027, 1, 1, 9), UTC_ZONE, anchor) == anchor
    assert next_fire(rate, anchor, UTC_ZONE, anchor) == utc(2027, 1, 1, 10, 5, 30)
    assert next_fire(rate, utc(2027, 1, 1, 10, 7), UTC_ZONE, anchor) == utc(2027, 1, 1, 10, 10, 30)


NEXT_FIRES = [
    # (expression, after (UTC), zone, the next fire times (UTC))
    ("cron(0 10 * * ? *)", utc(2027, 1, 1, 11), None, ["2027-01-02T10:00", "2027-01-03T10:00"]),
    ("cron(15 12 * * ? *)", utc(2027, 1, 1, 12, 15), None, ["2027-01-02T12:15"]),
    # MON-FRI at 18:00: 2027-01-01 is a Friday.
    (
        "cron(0 18 ? * MON-FRI *)",
        utc(2027, 1, 1, 17),
        None,
        ["2027-01-01T18:00", "2027-01-04T18:00", "2027-01-05T18:00"],
    ),
    ("cron(0/15 * * * ? *)", utc(2027, 1, 1, 0, 7), None, ["2027-01-01T00:15", "2027-01-01T00:30"]),
    ("cron(0 8 1 * ? *)", utc(2027, 1, 15), None, ["2027-02-01T08:00", "2027-03-01T08:00"]),
    # L: the last day of each month, February in a leap year and not.
    (
        "cron(0 0 L * ? *)",
        utc(2027, 1, 31, 1),
        None,
        ["2027-02-28T00:00", "2027-03-31T00:00", "2027-04-30T00:00"],
    ),
    ("cron(0 0 L 2 ? *)", utc(2027, 3, 1), None, ["2028-02-29T00:00", "2029-02-28T00:00"]),
    # 6L: the last Friday of the month.
    ("cron(0 0 ? * 6L *)", utc(2027, 1, 1), None, ["2027-01-29T00:00", "2027-02-26T00:00"]),
    # L alone in day-of-week: Saturday.
    ("cron(0 12 ? * L *)", utc(2027, 1, 1), None, ["2027-01-02T12:00", "2027-01-09T12:00"]),
    # 2#1: the first Monday; 6#5: a fifth Friday, only in months that have one.
    ("cron(0 9 ? * 2#1 *)", utc(2027, 1, 1), None, ["2027-01-04T09:00", "2027-02-01T09:00"]),
    ("cron(0 9 ? * 6#5 *)", utc(2027, 1, 1), None, ["2027-01-29T09:00", "2027-04-30T09:00"]),
    # 15W: 2027-05-15 is a Saturday -> Friday the 14th; 2027-08-15 a Sunday -> Monday 16th.
    ("cron(0 0 15W 5 ? *)", utc(2027, 1, 1), None, ["2027-05-14T00:00", "2028-05-15T00:00"]),
    ("cron(0 0 15W 8 ? *)", utc(2027, 1, 1), None, ["2027-08-16T00:00"]),
    # 1W on a Saturday (2027-05-01): Monday the 3rd, the nearest weekday within the month.
    ("cron(0 0 1W 5 ? 2027)", utc(2027, 1, 1), None, ["2027-05-03T00:00"]),
    # 31W on a Sunday (2027-10-31): Friday the 29th, never the next month.
    ("cron(0 0 31W 10 ? 2027)", utc(2027, 1, 1), None, ["2027-10-29T00:00"]),
    # The year field ends a schedule.
    ("cron(0 0 1 1 ? 2027-2028)", utc(2027, 6, 1), None, ["2028-01-01T00:00"]),
    ("cron(0 0 31 2 ? *)", utc(2027, 1, 1), None, []),
    # A time zone: 09:00 in New York is 14:00 UTC in winter, 13:00 in summer.
    (
        "cron(0 9 * * ? *)",
        utc(2027, 1, 1),
        "America/New_York",
        ["2027-01-01T14:00", "2027-01-02T14:00"],
    ),
    ("cron(0 9 * * ? *)", utc(2027, 7, 1), "America/New_York", ["2027-07-01T13:00"]),
    # Spring forward (2027-03-14 in New York, 02:00 -> 03:00): 02:30 does not exist
    # that day, so it does not fire.
    (
        "cron(30 2 * * ? *)",
        utc(2027, 3, 13, 12),
        "America/New_York",
        ["2027-03-15T06:30", "2027-03-16T06:30"],
    ),
    # Fall back (2027-11-07, 02:00 -> 01:00): 01:30 happens twice and fires once.
    (
        "cron(30 1 * * ? *)",
        utc(2027, 11, 6, 12),
        "America/New_York",
        ["2027-11-07T05:30", "2027-11-08T06:30"],
    ),
    # Every 30 minutes through the fall-back night: the repeated hour runs once.
    (
        "cron(0/30 0-2 7 11 ? 2027)",
        utc(2027, 11, 7, 3),
        "America/New_York",
        [
            "2027-11-07T04:00",
            "2027-11-07T04:30",
            "2027-11-07T05:00",
            "2027-11-07T05:30",
            "2027-11-07T07:00",
            "2027-11-07T07:30",
        ],
    ),
    ("at(2027-03-05T14:30:00)", utc(2027, 1, 1), None, ["2027-03-05T14:30"]),
    ("at(2027-03-05T14:30:00)", utc(2027, 1, 1), "Europe/Berlin", ["2027-03-05T13:30"]),
    ("at(2027-03-05T14:30:00)", utc(2027, 3, 5, 14, 30), None, []),
    # An at() in the hour skipped by spring forward never fires.
    ("at(2027-03-14T02:30:00)", utc(2027, 1, 1), "America/New_York", []),
]


@pytest.mark.parametrize(("expression", "after", "zone", "expected"), NEXT_FIRES)
def test_next_fire_times(
    expression: str, after: datetime, zone: str | None, expected: list[str]
) -> None:
    assert fires(expression, after, len(expected) + 1 if not expected else len(expected), zone) == (
        expected
    )


def test_a_daily_rate_stays_24_hours_apart_across_daylight_saving() -> None:
    zone = ZoneInfo("America/New_York")
    anchor = utc(2027, 3, 13, 14)  # 09:00 in New York, the day before spring forward
    rate = parse("rate(1 day)")
    nxt = next_fire(rate, anchor, zone, anchor)
    assert nxt == utc(2027, 3, 14, 14)  # 10:00 local after the change: absolute 24 hours


def test_next_fire_is_strictly_after() -> None:
    cron = parse("cron(0 10 * * ? *)")
    assert next_fire(cron, utc(2027, 1, 1, 10), UTC_ZONE, utc(2027, 1, 1)) == utc(2027, 1, 2, 10)
    assert next_fire(cron, utc(2027, 1, 1, 9, 59, 59), UTC_ZONE, utc(2027, 1, 1)) == utc(
        2027, 1, 1, 10
    )


def test_time_zones() -> None:
    assert timezone("Europe/Paris") == ZoneInfo("Europe/Paris")
    assert timezone(None) is UTC
    with pytest.raises(InvalidTimezone) as raised:
        timezone("Mars/Olympus")
    assert raised.value.code == "ValidationException"
