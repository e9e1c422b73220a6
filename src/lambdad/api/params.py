"""Query parameters and headers read with AWS's rules: a malformed value is the
client's 400, never the server's 500.

A value that is not a number is an `InvalidParameterValueException`; a number
outside its range, or a value outside an enum, is a `ValidationException`
worded as AWS words a failed member constraint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lambdad.catalog import check_range
from lambdad.errors import InvalidParameterValue, ValidationError


def int_param(raw: str | None, name: str, default: int) -> int:
    """`raw` as an int (at most 20 digits), `default` when absent."""
    if raw is None:
        return default
    if not raw.removeprefix("-").isdigit() or len(raw) > 20:
        raise InvalidParameterValue(f"Invalid {name}: {raw}")
    return int(raw)


def optional_int_param(params: Mapping[str, str], name: str) -> int | None:
    """`params[name]` as an int, None when absent (the operation picks its default)."""
    raw = params.get(name)
    return None if raw is None else int_param(raw, name, default=0)


def int_in_range(
    params: Mapping[str, str], name: str, default: int, low: int, high: int, member: str
) -> int:
    """`params[name]` as an int in [low, high] (`member` names it in errors), or `default`."""
    value = int_param(params.get(name), name, default)
    if name in params:
        check_range(value, member, low, high)
    return value


def enum_value(raw: str, member: str, allowed: Sequence[str]) -> str:
    """`raw` if it is one of `allowed`, else AWS's enum ValidationException."""
    if raw not in allowed:
        raise ValidationError(
            f"1 validation error detected: Value '{raw}' at '{member}' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
        )
    return raw


def required_list(values: list[str], member: str) -> list[str]:
    """A required list parameter (`tagKeys`), present at least once."""
    if not values:
        raise ValidationError(
            f"1 validation error detected: Value null at '{member}' failed to satisfy "
            "constraint: Member must not be null"
        )
    return values


def epoch_seconds(value: Any) -> float | None:
    """A timestamp member as AWS's JSON protocols send it (epoch seconds, or an ISO 8601
    string; CBOR decodes to a datetime) in seconds, or None when it is not one."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None
