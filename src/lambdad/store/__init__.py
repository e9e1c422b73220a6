"""Persistence: SQL (SQLite by default, PostgreSQL by URL) and the blob store."""

from lambdad.store.aliases import AliasRow, AliasStore
from lambdad.store.async_events import AsyncEventRow, AsyncEventStore
from lambdad.store.blobs import BlobStore
from lambdad.store.concurrency import ConcurrencyStore, ProvisionedRow
from lambdad.store.database import DatabaseError, create_engine, map_db_errors, migrate
from lambdad.store.event_bus import BusRow, EventBusStore, RuleRow, TargetRow
from lambdad.store.event_invoke import EventInvokeConfigRow, EventInvokeConfigStore
from lambdad.store.function_urls import FunctionUrlRow, FunctionUrlStore
from lambdad.store.functions import LATEST, FunctionRow, FunctionStore, VersionRow
from lambdad.store.layers import LayerStore, LayerVersionRow
from lambdad.store.logs import LogEventRow, LogStore, NewChunk, Removed
from lambdad.store.metrics import MetricRow, MetricStore
from lambdad.store.policies import PolicyRows, PolicyStore
from lambdad.store.roles import RoleRow, RoleStore
from lambdad.store.schedules import ScheduleGroupRow, ScheduleRow, ScheduleStore
from lambdad.store.timers import FireRow, TimerRow, TimerStore
from lambdad.store.traces import SegmentRow, TraceStore
from lambdad.store.usage import InvocationRecord, ProvisionedSample, UsageRow, UsageStore
from lambdad.store.users import AccessKeyRow, UserRow, UserStore

__all__ = [
    "AccessKeyRow",
    "AliasRow",
    "AliasStore",
    "AsyncEventRow",
    "AsyncEventStore",
    "BusRow",
    "EventBusStore",
    "RuleRow",
    "TargetRow",
    "LATEST",
    "BlobStore",
    "ConcurrencyStore",
    "DatabaseError",
    "EventInvokeConfigRow",
    "EventInvokeConfigStore",
    "InvocationRecord",
    "FireRow",
    "FunctionRow",
    "FunctionUrlRow",
    "FunctionUrlStore",
    "FunctionStore",
    "LayerStore",
    "LayerVersionRow",
    "LogEventRow",
    "LogStore",
    "MetricRow",
    "MetricStore",
    "NewChunk",
    "PolicyRows",
    "PolicyStore",
    "ProvisionedSample",
    "Removed",
    "ScheduleGroupRow",
    "ScheduleRow",
    "ScheduleStore",
    "RoleRow",
    "RoleStore",
    "ProvisionedRow",
    "UserRow",
    "UsageRow",
    "UsageStore",
    "UserStore",
    "TimerRow",
    "TimerStore",
    "SegmentRow",
    "TraceStore",
    "VersionRow",
    "create_engine",
    "map_db_errors",
    "migrate",
]
