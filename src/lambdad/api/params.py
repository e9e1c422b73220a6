"""Query-string parameters, read with AWS's errors for malformed values."""

from __future__ import annotations

from lambdad.errors import InvalidParameterValue


def int_param(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid {name}: {raw}") from exc
