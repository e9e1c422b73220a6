"""Log group retention, as CloudWatch Logs has it: a number of days out of a fixed
set, or none (the default: events never expire, as in AWS).
"""

from __future__ import annotations

from lambdad.errors import InvalidParameterValue

RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
"""The values PutRetentionPolicy accepts for retentionInDays."""


def check_retention_days(days: object) -> int:
    """`days` if CloudWatch accepts it as a retention, else its validation error."""
    if isinstance(days, bool) or not isinstance(days, int) or days not in RETENTION_DAYS:
        allowed = ", ".join(str(value) for value in RETENTION_DAYS)
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to "
            f"satisfy constraint: Member must satisfy enum value set: [{allowed}]"
        )
    return days
