"""Event invoke configs: how the async queue treats one function's events.

Per function + qualifier (`$LATEST` when unqualified, a version, an alias):
how many times to retry after a function error (0-2, Lambda's default 2),
how old an event may get (60 s - 6 h, default 6 h), and where it goes after
success or final failure. PutFunctionEventInvokeConfig replaces the whole
config; UpdateFunctionEventInvokeConfig changes only what it names.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from lambdad.catalog import validation
from lambdad.catalog.destinations import check_destination
from lambdad.catalog.markers import page_after, page_size
from lambdad.catalog.model import LATEST
from lambdad.catalog.names import Account
from lambdad.catalog.regional import Regional
from lambdad.catalog.service import Catalog
from lambdad.concurrency import run_sync
from lambdad.errors import InvalidParameterValue, ResourceNotFound
from lambdad.store.event_invoke import EventInvokeConfigRow, EventInvokeConfigStore

DEFAULT_RETRIES = 2
DEFAULT_MAX_EVENT_AGE_S = 6 * 3600
MAX_LIST_ITEMS = 50

Clock = Callable[[], float]


@dataclass(frozen=True)
class EventInvokeConfig:
    function_name: str
    qualifier: str
    maximum_retry_attempts: int | None = None
    maximum_event_age_s: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    last_modified: float = 0.0

    @property
    def retries(self) -> int:
        """Retries after a function error (the config's, else Lambda's default)."""
        if self.maximum_retry_attempts is None:
            return DEFAULT_RETRIES
        return self.maximum_retry_attempts

    @property
    def max_event_age_s(self) -> int:
        if self.maximum_event_age_s is None:
            return DEFAULT_MAX_EVENT_AGE_S
        return self.maximum_event_age_s


@dataclass(frozen=True)
class EventInvokeChanges:
    """What a Put/Update request sets; None where the request is silent."""

    maximum_retry_attempts: int | None = None
    maximum_event_age_s: int | None = None
    destinations: tuple[str | None, str | None] | None = None
    """(OnSuccess, OnFailure) ARNs when the request has a DestinationConfig."""

    @property
    def empty(self) -> bool:
        return (
            self.maximum_retry_attempts is None
            and self.maximum_event_age_s is None
            and self.destinations is None
        )


@dataclass(frozen=True)
class EventInvokeConfigPage:
    configs: list[EventInvokeConfig]
    next_marker: str | None


class EventInvokeConfigs(Regional):
    def __init__(
        self,
        account: Account,
        catalog: Catalog,
        store: EventInvokeConfigStore,
        clock: Clock = time.time,
    ) -> None:
        self.account = account
        self.catalog = catalog
        self.store = store
        self._clock = clock

    async def put(
        self, function_name: str, qualifier: str | None, changes: EventInvokeChanges
    ) -> EventInvokeConfig:
        """PutFunctionEventInvokeConfig: the request's settings, nothing of the old config."""
        name, key = await self._target(function_name, qualifier)
        config = await self._apply(EventInvokeConfig(name, key), changes)
        await run_sync(self.store.put, _row(config))
        return config

    async def update(
        self, function_name: str, qualifier: str | None, changes: EventInvokeChanges
    ) -> EventInvokeConfig:
        """UpdateFunctionEventInvokeConfig: the old config with the request's settings."""
        name, key = await self._target(function_name, qualifier)
        current = await run_sync(self.store.get, name, key)
        if current is None:
            raise self._missing(name, key)
        config = await self._apply(_config(current), changes)
        await run_sync(self.store.put, _row(config))
        return config

    async def get(self, function_name: str, qualifier: str | None) -> EventInvokeConfig:
        ref = self.account.resolve(function_name, qualifier)
        key = ref.qualifier or LATEST
        row = await run_sync(self.store.get, ref.name, key)
        if row is None:
            raise self._missing(ref.name, key)
        return _config(row)

    async def delete(self, function_name: str, qualifier: str | None) -> None:
        ref = self.account.resolve(function_name, qualifier)
        key = ref.qualifier or LATEST
        if not await run_sync(self.store.delete, ref.name, key):
            raise self._missing(ref.name, key)

    async def list(
        self, function_name: str, marker: str | None, max_items: int | None
    ) -> EventInvokeConfigPage:
        ref = self.account.parse_function_name(function_name)
        limit = page_size(max_items, MAX_LIST_ITEMS)
        await self._function_exists(ref.name)
        rows = await run_sync(self.store.list, ref.name)
        page, next_marker = page_after(rows, lambda r: r.qualifier, marker, limit)
        return EventInvokeConfigPage([_config(r) for r in page], next_marker)

    async def for_event(self, function_name: str, qualifier: str) -> EventInvokeConfig:
        """What the queue applies to an event: the stored config, or Lambda's defaults."""
        row = await run_sync(self.store.get, function_name, qualifier)
        return EventInvokeConfig(function_name, qualifier) if row is None else _config(row)

    def qualified_arn(self, config: EventInvokeConfig) -> str:
        return self.account.function_arn(config.function_name, config.qualifier)

    # -- the steps ---------------------------------------------------------

    async def _target(self, function_name: str, qualifier: str | None) -> tuple[str, str]:
        """The function + qualifier a Put/Update names, which must exist."""
        ref = self.account.resolve(function_name, qualifier)
        try:
            await self.catalog.resolve(ref)  # a version or an alias
        except ResourceNotFound:
            raise ResourceNotFound("The function doesn't exist.") from None
        return ref.name, ref.qualifier or LATEST

    async def _function_exists(self, name: str) -> None:
        try:
            await self.catalog.get_function(name)
        except ResourceNotFound:
            raise ResourceNotFound("The function doesn't exist.") from None

    async def _apply(
        self, config: EventInvokeConfig, changes: EventInvokeChanges
    ) -> EventInvokeConfig:
        if changes.empty:
            raise InvalidParameterValue(
                "You must specify at least one of error handling or destination setting."
            )
        if changes.maximum_retry_attempts is not None:
            validation.check_range(changes.maximum_retry_attempts, "maximumRetryAttempts", 0, 2)
            config = replace(config, maximum_retry_attempts=changes.maximum_retry_attempts)
        if changes.maximum_event_age_s is not None:
            validation.check_range(
                changes.maximum_event_age_s, "maximumEventAgeInSeconds", 60, 21600
            )
            config = replace(config, maximum_event_age_s=changes.maximum_event_age_s)
        if changes.destinations is not None:
            on_success, on_failure = changes.destinations
            config = replace(
                config,
                on_success=await self._destination(config, on_success, "onSuccess"),
                on_failure=await self._destination(config, on_failure, "onFailure"),
            )
        return replace(config, last_modified=self._clock())

    async def _destination(
        self, config: EventInvokeConfig, arn: str | None, which: str
    ) -> str | None:
        if not arn:
            return None
        member = f"destinationConfig.{which}.destination"
        ref = check_destination(self.account, arn, member, config.function_name)
        try:
            await self.catalog.get_function(ref.name)
        except ResourceNotFound:
            raise InvalidParameterValue(f"The destination ARN {arn} is invalid.") from None
        return arn

    def _missing(self, name: str, qualifier: str) -> ResourceNotFound:
        arn = self.account.function_arn(name, qualifier)
        return ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")


def _row(config: EventInvokeConfig) -> EventInvokeConfigRow:
    return EventInvokeConfigRow(**config.__dict__)


def _config(row: EventInvokeConfigRow) -> EventInvokeConfig:
    return EventInvokeConfig(**row.__dict__)
