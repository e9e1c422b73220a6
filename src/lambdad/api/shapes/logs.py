"""Wire shapes of lambdad's own log endpoints, in CloudWatch Logs' spelling (camelCase)."""

from __future__ import annotations

import msgspec


class LogRetention(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    """A log group's retention, as CloudWatch's PutRetentionPolicy and DescribeLogGroups
    name it; `retention_in_days` None: the events never expire."""

    log_group_name: str | None = None
    retention_in_days: int | None = None
