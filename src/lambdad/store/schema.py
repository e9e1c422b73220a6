"""The tables, as SQLAlchemy Core metadata (the migrations create them).

Designed for everything the architecture lists, even where later work fills
it: functions and their versions, aliases, layers, event source mappings,
resource policies, the durable async-invoke queue and the log store.
Configuration that AWS returns as one document is kept as JSON; what we query
or compare-and-swap on has a column of its own.

Functions, layers and log groups are regional, as on AWS: the region (the
SigV4 credential scope of the request that made them) is the first part of
every key of theirs and of everything that hangs off them, so the same name
lives in two regions side by side.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()


def _region(primary_key: bool = True) -> Column[str]:
    """The region a row belongs to (its function's, layer's or log group's)."""
    return Column("region", String(32), primary_key=primary_key, nullable=False)


functions = Table(
    "functions",
    metadata,
    _region(),
    Column("name", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("next_version", Integer, nullable=False),
    Column("reserved_concurrency", Integer, nullable=True),
)

# One row per published version plus one for "$LATEST".
function_versions = Table(
    "function_versions",
    metadata,
    _region(),
    Column("function_name", String(64), primary_key=True),
    Column("version", String(16), primary_key=True),
    Column("revision_id", String(36), nullable=False),
    Column("code_sha256", String(64), nullable=False),
    Column("code_size", BigInteger, nullable=False),
    Column("config", JSON, nullable=False),
    Column("last_modified", Float, nullable=False),
)

aliases = Table(
    "aliases",
    metadata,
    _region(),
    Column("function_name", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("function_version", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("routing_config", JSON, nullable=True),
    Column("revision_id", String(36), nullable=False),
)

layer_versions = Table(
    "layer_versions",
    metadata,
    _region(),
    Column("layer_name", String(140), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("code_sha256", String(64), nullable=False),
    Column("code_size", BigInteger, nullable=False),
    Column("config", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

event_source_mappings = Table(
    "event_source_mappings",
    metadata,
    Column("uuid", String(36), primary_key=True),
    _region(primary_key=False),
    Column("function_name", String(64), nullable=False, index=True),
    Column("event_source_arn", String(1024), nullable=True),
    Column("state", String(32), nullable=False),
    Column("config", JSON, nullable=False),
    Column("last_modified", Float, nullable=False),
)

policies = Table(
    "policies",
    metadata,
    _region(),
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("statement_id", String(100), primary_key=True),
    Column("statement", JSON, nullable=False),
    # GetPolicy lists statements in the order they were added.
    Column("added_at", Float, nullable=False, default=0, server_default="0"),
)

# The durable queue behind InvocationType=Event: a row is written (and
# committed) before the 202 goes out, and deleted once the event is done.
async_events = Table(
    "async_events",
    metadata,
    Column("id", String(36), primary_key=True),
    _region(primary_key=False),
    Column("function_name", String(64), nullable=False, index=True),
    Column("qualifier", String(128), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("enqueued_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False, index=True),
    Column("trace_id", String(128), nullable=True),
    # Throttled and platform-failed tries: they wait, without using up attempts.
    Column("throttles", Integer, nullable=False, default=0, server_default="0"),
    # The last attempt's outcome, for the destination record if the event ages out.
    Column("last_response", JSON, nullable=True),
)

# PutFunctionEventInvokeConfig: per function + qualifier ("$LATEST", a version, an alias).
event_invoke_configs = Table(
    "event_invoke_configs",
    metadata,
    _region(),
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("maximum_retry_attempts", Integer, nullable=True),
    Column("maximum_event_age_s", Integer, nullable=True),
    Column("on_success", String(350), nullable=True),
    Column("on_failure", String(350), nullable=True),
    Column("last_modified", Float, nullable=False),
)

# The RevisionId of each resource policy (one per function + qualifier).
policy_revisions = Table(
    "policy_revisions",
    metadata,
    _region(),
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("revision_id", String(36), nullable=False),
)

# CreateFunctionUrlConfig: per function + qualifier ("$LATEST" when unqualified, an alias).
function_url_configs = Table(
    "function_url_configs",
    metadata,
    _region(),
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("url_id", String(32), nullable=False, unique=True),
    Column("auth_type", String(16), nullable=False),
    Column("cors", JSON, nullable=True),
    Column("invoke_mode", String(16), nullable=False),
    Column("creation_time", Float, nullable=False),
    Column("last_modified", Float, nullable=False),
)

# What hangs off one function + qualifier (a version or an alias) and goes with it.
PER_QUALIFIER = (policies, policy_revisions, event_invoke_configs, function_url_configs)

# A log group's settings; its events are chunks (see store/logs.py).
log_groups = Table(
    "log_groups",
    metadata,
    _region(),
    Column("name", String(512), primary_key=True),
    # CloudWatch's retention in days; NULL: never expire.
    Column("retention_days", Integer, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

# A run of consecutive events of one stream: messages joined by "\n",
# timestamps as packed (timestamp_ms, count) runs.
log_chunks = Table(
    "log_chunks",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    _region(primary_key=False),
    Column("log_group", String(512), nullable=False),
    Column("log_stream", String(512), nullable=False),
    Column("first_ms", BigInteger, nullable=False),
    Column("last_ms", BigInteger, nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),
    Column("messages", LargeBinary, nullable=False),
    # When the chunk was stored (CloudWatch's ingestionTime); NULL before 0013.
    Column("ingested_ms", BigInteger, nullable=True),
    Index("ix_log_chunks_group", "region", "log_group", "id"),
    Index("ix_log_chunks_stream", "region", "log_group", "log_stream", "id"),
)

log_streams = Table(
    "log_streams",
    metadata,
    _region(),
    Column("log_group", String(512), primary_key=True),
    Column("log_stream", String(512), primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
)


# A function's concurrency settings beyond its reservation (a column of its own row).
provisioned_concurrency = Table(
    "provisioned_concurrency",
    metadata,
    _region(),
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("requested", Integer, nullable=False),
    Column("last_modified", Float, nullable=False),
)

recursion_configs = Table(
    "recursion_configs",
    metadata,
    _region(),
    Column("function_name", String(64), primary_key=True),
    Column("recursive_loop", String(16), nullable=False),
)

# Rows of a function's own (not of one qualifier) that go with the function.
PER_FUNCTION = (provisioned_concurrency, recursion_configs)

# Users (IAM's): a name, an id, the identity policy documents attached to it.
iam_users = Table(
    "iam_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False, unique=True),
    Column("policies", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

# A user's access keys: the secret sealed with the server key (iam/server_key.py),
# never in the clear; deleting the user takes its keys along.
iam_access_keys = Table(
    "iam_access_keys",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column(
        "user_name",
        String(64),
        ForeignKey("iam_users.name", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)

# The event bus (EventBridge): buses, rules and targets, per region. The default
# bus has a row once something used it.
event_buses = Table(
    "event_buses",
    metadata,
    Column("region", String(32), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("last_modified", Float, nullable=False),
)

event_rules = Table(
    "event_rules",
    metadata,
    Column("region", String(32), primary_key=True),
    Column("event_bus", String(256), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("event_pattern", Text, nullable=True),
    Column("schedule_expression", String(256), nullable=True),
    Column("state", String(64), nullable=False),
    Column("description", Text, nullable=True),
    Column("role_arn", String(1600), nullable=True),
    Column("created_at", Float, nullable=False),
)

# One target of a rule: its ARN, and the rest of the Target shape as AWS returns it.
event_targets = Table(
    "event_targets",
    metadata,
    Column("region", String(32), primary_key=True),
    Column("event_bus", String(256), primary_key=True),
    Column("rule", String(64), primary_key=True),
    Column("target_id", String(64), primary_key=True),
    Column("arn", String(1600), nullable=False),
    Column("config", JSON, nullable=False),
    Column("added_at", Float, nullable=False),
)

# A durable timer (events/ticker.py): one per owner (a schedule, a scheduled rule).
# `revision` changes on every write, so a claim of a tick is a compare-and-swap.
timers = Table(
    "timers",
    metadata,
    Column("owner_kind", String(32), primary_key=True),
    Column("owner_id", String(512), primary_key=True),
    Column("expression", String(256), nullable=False),
    Column("timezone", String(64), nullable=True),
    Column("anchor", Float, nullable=False),  # where a rate counts from
    Column("end_at", Float, nullable=True),
    Column("window_s", Integer, nullable=False),  # flexible time window
    Column("grace_s", Float, nullable=False),  # how late a missed tick may still fire
    Column("retry_attempts", Integer, nullable=False),
    Column("next_tick_at", Float, nullable=True),  # NULL: no tick left (ended, or disabled)
    Column("next_fire_at", Float, nullable=True, index=True),  # the tick plus its offset
    Column("revision", String(36), nullable=False),
)

# A claimed tick until its owner's callback took it (an outbox): written in the
# claim's commit, deleted once delivered, so a crash between the two loses nothing.
timer_fires = Table(
    "timer_fires",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_kind", String(32), nullable=False),
    Column("owner_id", String(512), nullable=False),
    Column("tick_at", Float, nullable=False),
    Column("last", Integer, nullable=False),  # 1: the timer has no tick after this one
    Column("attempts", Integer, nullable=False),
    Column("lease_until", Float, nullable=False, index=True),
)

# EventBridge Scheduler: schedule groups and schedules, per region.
schedule_groups = Table(
    "schedule_groups",
    metadata,
    Column("region", String(32), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("creation_date", Float, nullable=False),
    Column("last_modification_date", Float, nullable=False),
    Column("tags", JSON, nullable=False),
)

schedules = Table(
    "schedules",
    metadata,
    Column("region", String(32), primary_key=True),
    Column("group_name", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("config", JSON, nullable=False),  # the rest of the schedule, as AWS returns it
    Column("creation_date", Float, nullable=False),
    Column("last_modification_date", Float, nullable=False),
)

# Execution roles (`lambdad roles add`): a function's Role names one, and its
# environments get credentials whose requests this policy decides.
roles = Table(
    "roles",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("policy", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Metrics: per-minute aggregates of CloudWatch's AWS/Lambda series, written in
# batches (several rows of one minute and series merge when read), kept 15 days.
metric_points = Table(
    "metric_points",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region", String(32), nullable=False),
    Column("metric_name", String(255), nullable=False),
    Column("dimensions", String(2048), nullable=False),  # "Name=Value" lines, by name
    Column("minute", Integer, nullable=False),
    Column("sample_count", Float, nullable=False),
    Column("total", Float, nullable=False),
    Column("minimum", Float, nullable=False),
    Column("maximum", Float, nullable=False),
    Column("buckets", JSON, nullable=False),  # the log-scale histogram: {index: count}
    Index("ix_metric_points_series", "region", "metric_name", "dimensions", "minute"),
    Index("ix_metric_points_minute", "minute"),
)

# Traces: the newest X-Ray segment documents of traced invocations (a bounded number).
trace_segments = Table(
    "trace_segments",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(16), nullable=False, unique=True),
    Column("trace_id", String(35), nullable=False, index=True),
    Column("region", String(32), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float, nullable=False),
    Column("error", Boolean, nullable=False),
    Column("fault", Boolean, nullable=False),
    Column("document", JSON, nullable=False),
    Index("ix_trace_segments_start", "region", "start_time"),
)
