"""Schedule expressions as EventBridge and EventBridge Scheduler read them.

    rate(N unit)      N a positive integer; unit minute|minutes|hour|hours|day|days,
                      singular when N is 1 and plural otherwise (AWS's rule)
    cron(m h dom mon dow year)
                      AWS's six fields, not Unix cron's five: minutes 0-59, hours 0-23,
                      day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 (1 is
                      Sunday) or SUN-SAT, year 1970-2199. Lists `,`, ranges `-`, steps `/`,
                      `*`. Exactly one of day-of-month and day-of-week is `?`. `L` (the
                      last day of the month; in day-of-week alone, Saturday; `5L` the last
                      Thursday), `15W` (the weekday nearest the 15th, within the month) and
                      `6#3` (the third Friday) stand alone in their field.
    at(yyyy-mm-ddThh:mm:ss)
                      a one-time schedule (Scheduler only), in the schedule's time zone

Next fire times (`next_after`) are instants (aware UTC datetimes). A cron or at
expression is read as wall-clock time in a time zone, with daylight saving time as
AWS documents it for Scheduler: a local time skipped when clocks spring forward does
not fire; a local time repeated when they fall back fires once (the first). A rate
counts absolute time from an anchor (the schedule's start), so a `rate(1 day)` stays
24 hours apart across a change.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lambdad.errors import ValidationError

MIN_YEAR, MAX_YEAR = 1970, 2199
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"rate\((?P<value>\d+) +(?P<unit>[a-z]+)\)")
_CRON = re.compile(r"cron\((?P<fields>[^()]*)\)")
_AT = re.compile(r"at\((?P<when>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
_ITEM = re.compile(r"(?P<start>\*|[0-9A-Z]+)(?:-(?P<end>[0-9A-Z]+))?(?:/(?P<step>\d+))?")


class InvalidScheduleExpression(ValidationError):
    """A rate/cron/at expression that does not parse. `message` says why (for logs
    and the CLI); each API answers with its own service's wording of the error."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(reason)
        self.expression = expression
        self.reason = reason


class InvalidTimezone(ValidationError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Invalid time zone: {name}")
        self.name = name


def timezone(name: str | None) -> tzinfo:
    """The IANA time zone `name` (UTC when None)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTimezone(name) from exc


@dataclass(frozen=True)
class Rate:
    value: int
    unit: str  # "minute" | "hour" | "day"

    @property
    def seconds(self) -> int:
        return self.value * _UNITS[self.unit]

    def next_after(self, after: datetime, anchor: datetime) -> datetime:
        """The first tick `anchor + k * period` (k >= 0) later than `after`."""
        if after < anchor:
            return anchor
        period = timedelta(seconds=self.seconds)
        return anchor + period * ((after - anchor) // period + 1)


@dataclass(frozen=True)
class At:
    when: datetime  # naive: wall-clock time in the schedule's time zone

    def instant(self, zone: tzinfo) -> datetime | None:
        """When it fires, or None when that local time does not exist (spring forward)."""
        return _instant(self.when, zone)


@dataclass(frozen=True)
class DayOfMonth:
    days: frozenset[int] = frozenset()
    last: bool = False
    nearest_weekday: int | None = None  # the `W` day

    def matches(self, year: int, month: int) -> set[int]:
        last_day = calendar.monthrange(year, month)[1]
        if self.last:
            return {last_day}
        if self.nearest_weekday is not None:
            return {_nearest_weekday(year, month, min(self.nearest_weekday, last_day))}
        return {d for d in self.days if d <= last_day}


@dataclass(frozen=True)
class DayOfWeek:
    days: frozenset[int] = frozenset()  # 1 = Sunday ... 7 = Saturday
    last_of: int | None = None  # `5L`: the last Thursday
    nth: tuple[int, int] | None = None  # `6#3`: (day, 3)

    def matches(self, year: int, month: int) -> set[int]:
        last_day = calendar.monthrange(year, month)[1]
        by_day: dict[int, list[int]] = {}
        for d in range(1, last_day + 1):
            by_day.setdefault(_aws_weekday(year, month, d), []).append(d)
        if self.last_of is not None:
            return {by_day[self.last_of][-1]}
        if self.nth is not None:
            day, n = self.nth
            found = by_day[day]
            return {found[n - 1]} if n <= len(found) else set()
        return {d for day in self.days for d in by_day.get(day, [])}


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day: DayOfMonth | DayOfWeek
    months: tuple[int, ...]
    years: tuple[int, ...]

    def next_after(self, after: datetime, zone: tzinfo) -> datetime | None:
        """The first instant later than `after` whose wall-clock time in `zone` matches."""
        local = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
        while True:
            candidate = self._next_local(local)
            if candidate is None:
                return None
            instant = _instant(candidate, zone)
            if instant is not None and instant > after:
                return instant
            local = candidate + timedelta(minutes=1)

    def _next_local(self, start: datetime) -> datetime | None:
        """The first wall-clock minute at or after `start` that the fields match."""
        for year in (y for y in self.years if y >= start.year):
            same_year = year == start.year
            for month in (m for m in self.months if not same_year or m >= start.month):
                same_month = same_year and month == start.month
                days = sorted(self.day.matches(year, month))
                for day in (d for d in days if not same_month or d >= start.day):
                    same_day = same_month and day == start.day
                    for hour in (h for h in self.hours if not same_day or h >= start.hour):
                        same_hour = same_day and hour == start.hour
                        for minute in self.minutes:
                            if not same_hour or minute >= start.minute:
                                return datetime(year, month, day, hour, minute)
        return None


Expression = Rate | Cron | At


def parse(text: str, allow_at: bool = False) -> Expression:
    """Parse a schedule expression; `at(...)` only where the service has it (Scheduler)."""
    if match := _RATE.fullmatch(text):
        return _rate(text, int(match["value"]), match["unit"])
    if match := _CRON.fullmatch(text):
        return _cron(text, match["fields"])
    if allow_at and (match := _AT.fullmatch(text)):
        try:
            return At(datetime.strptime(match["when"], "%Y-%m-%dT%H:%M:%S"))
        except ValueError as exc:
            raise InvalidScheduleExpression(text, "at(...) names no real date and time") from exc
    forms = "rate(...), cron(...) or at(...)" if allow_at else "rate(...) or cron(...)"
    raise InvalidScheduleExpression(text, f"a schedule expression is {forms}")


def next_fire(
    expression: Expression, after: datetime, zone: tzinfo, anchor: datetime
) -> datetime | None:
    """The expression's first fire time later than `after`; None when there is none.
    `anchor` is where a rate counts from (the schedule's start)."""
    if isinstance(expression, Rate):
        return expression.next_after(after, anchor)
    if isinstance(expression, Cron):
        return expression.next_after(after, zone)
    instant = expression.instant(zone)
    return instant if instant is not None and instant > after else None


def _rate(text: str, value: int, unit: str) -> Rate:
    base = unit.removesuffix("s")
    if base not in _UNITS:
        raise InvalidScheduleExpression(
            text, f"rate unit {unit!r} is not minute(s), hour(s), day(s)"
        )
    if value < 1:
        raise InvalidScheduleExpression(text, "a rate's value is a positive integer")
    if (value == 1) != (unit == base):
        raise InvalidScheduleExpression(
            text, f"a rate of {value} takes the unit {base if value == 1 else base + 's'!r}"
        )
    return Rate(value, base)


def _cron(text: str, fields_text: str) -> Cron:
    fields = fields_text.split()
    if len(fields) != 6:
        raise InvalidScheduleExpression(text, f"cron(...) has six fields, not {len(fields)}")
    minute, hour, dom, month, dow, year = (f.upper() for f in fields)
    if (dom == "?") == (dow == "?"):
        raise InvalidScheduleExpression(
            text, "exactly one of day-of-month and day-of-week must be '?'"
        )

    def values(field: str, low: int, high: int, names: tuple[str, ...] = ()) -> tuple[int, ...]:
        return tuple(sorted(_field(text, field, low, high, names)))

    day = _day_of_week(text, dow) if dom == "?" else _day_of_month(text, dom)
    return Cron(
        minutes=values(minute, 0, 59),
        hours=values(hour, 0, 23),
        day=day,
        months=values(month, 1, 12, MONTHS),
        years=values(year, MIN_YEAR, MAX_YEAR),
    )


def _day_of_month(text: str, field: str) -> DayOfMonth:
    if field == "L":
        return DayOfMonth(last=True)
    if re.fullmatch(r"\d+W", field):
        day = _number(text, field[:-1], 1, 31)
        return DayOfMonth(nearest_weekday=day)
    return DayOfMonth(days=frozenset(_field(text, field, 1, 31)))


def _day_of_week(text: str, field: str) -> DayOfWeek:
    if field == "L":
        return DayOfWeek(days=frozenset({7}))
    if re.fullmatch(r"[0-9A-Z]+L", field):
        return DayOfWeek(last_of=_number(text, field[:-1], 1, 7, DAYS))
    if re.fullmatch(r"[0-9A-Z]+#\d+", field):
        day, _, n = field.partition("#")
        return DayOfWeek(nth=(_number(text, day, 1, 7, DAYS), _number(text, n, 1, 5)))
    return DayOfWeek(days=frozenset(_field(text, field, 1, 7, DAYS)))


def _field(text: str, field: str, low: int, high: int, names: tuple[str, ...] = ()) -> set[int]:
    """The values of a list of `*`, `a`, `a-b`, with an optional `/step`."""
    found: set[int] = set()
    for item in field.split(","):
        match = _ITEM.fullmatch(item)
        if match is None:
            raise InvalidScheduleExpression(text, f"cron field {field!r} is not valid")
        step = 1 if match["step"] is None else int(match["step"])
        if step < 1:
            raise InvalidScheduleExpression(text, f"cron field {field!r}: a step is at least 1")
        if match["start"] == "*":
            if match["end"] is not None:
                raise InvalidScheduleExpression(text, f"cron field {field!r} is not valid")
            start, end = low, high
        else:
            start = _number(text, match["start"], low, high, names)
            # `a/step` runs from a to the field's end (0/15 in minutes: 0, 15, 30, 45).
            end = start if match["end"] is None and match["step"] is None else high
            if match["end"] is not None:
                end = _number(text, match["end"], low, high, names)
            if end < start:
                raise InvalidScheduleExpression(text, f"cron range {item!r} runs backwards")
        found.update(range(start, end + 1, step))
    return found


def _number(text: str, token: str, low: int, high: int, names: tuple[str, ...] = ()) -> int:
    if token in names:
        return names.index(token) + 1
    if not token.isdigit() or not low <= int(token) <= high:
        raise InvalidScheduleExpression(
            text, f"cron value {token!r} is not in {low}-{high}" + (" or a name" if names else "")
        )
    return int(token)


def _aws_weekday(year: int, month: int, day: int) -> int:
    """1 = Sunday ... 7 = Saturday (Python's Monday is 0)."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """`15W`: the weekday nearest the day, never leaving the month."""
    last_day = calendar.monthrange(year, month)[1]
    weekday = _aws_weekday(year, month, day)
    if weekday == 7:  # Saturday: Friday before, or Monday after when the 1st
        return day - 1 if day > 1 else day + 2
    if weekday == 1:  # Sunday: Monday after, or Friday before when the last
        return day + 1 if day < last_day else day - 2
    return day


def _instant(local: datetime, zone: tzinfo) -> datetime | None:
    """The instant of a wall-clock time (the first, when clocks repeat it), or None
    when clocks skip it."""
    aware = local.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        return None
    return instant
