"""A function's concurrency settings and the account's pool they are carved from.

    account limit (Settings.concurrent_executions, AWS's default 1000), per region
    ├── reserved concurrency of each function that has one
    ├── provisioned concurrency of functions without a reservation
    └── unreserved pool: what every other function shares; never below 100

Provisioned concurrency counts against the function's reservation when it has
one (the configs of all its versions and aliases together may not exceed it),
else against the unreserved pool. The rules and AWS's messages live here;
rows live in `store/`; `pool/provisioned.py` keeps the environments.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lambdad.catalog import validation
from lambdad.catalog.markers import page_after
from lambdad.catalog.model import LATEST, Version
from lambdad.catalog.names import Account, FunctionRef
from lambdad.catalog.regional import Regional
from lambdad.catalog.service import Catalog
from lambdad.catalog.snapstart import check_provisioned
from lambdad.concurrency import run_sync
from lambdad.errors import (
    InvalidParameterValue,
    ProvisionedConfigNotFound,
    ResourceConflict,
    ResourceNotFound,
    ValidationError,
)
from lambdad.store import ConcurrencyStore, ProvisionedRow

log = logging.getLogger(__name__)

MIN_UNRESERVED = 100
"""AWS keeps this much of the account's concurrency for functions without a reservation."""
RECURSIVE_LOOP_VALUES = ("Allow", "Terminate")
DEFAULT_RECURSIVE_LOOP = "Terminate"
MAX_PROVISIONED_PAGE = 50

NOT_PUBLISHED = (
    "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
)
NOT_A_VERSION = "The function resource provided must be an alias or a published version."
NO_CONFIG = "No Provisioned Concurrency Config found for this function"

ChangeListener = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ProvisionedTarget:
    """A provisioned concurrency config and the version its environments run."""

    config: ProvisionedRow
    version: Version


@dataclass(frozen=True)
class AccountConcurrency:
    limit: int
    unreserved: int


class ConcurrencyCatalog(Regional):
    def __init__(
        self,
        account: Account,
        catalog: Catalog,
        store: ConcurrencyStore,
        account_limit: int,
    ) -> None:
        self.account = account
        self.catalog = catalog
        self.store = store
        self.account_limit = account_limit
        self._listeners: list[ChangeListener] = []

    @property
    def min_unreserved(self) -> int:
        # An account whose whole limit is below 100 keeps all of it unreserved.
        return min(MIN_UNRESERVED, self.account_limit)

    def on_change(self, listener: ChangeListener) -> None:
        """Told the function name after any of its concurrency settings changed."""
        self._listeners.append(listener)

    # -- the account ---------------------------------------------------------

    async def account_concurrency(self) -> AccountConcurrency:
        reservations = await run_sync(self.store.reservations)
        configs = await run_sync(self.store.list_provisioned)
        return AccountConcurrency(
            self.account_limit, self._unreserved(reservations, configs, skip=None)
        )

    def _unreserved(
        self,
        reservations: dict[str, int],
        configs: list[ProvisionedRow],
        skip: tuple[str, str | None] | None,
    ) -> int:
        """The account's unreserved pool, leaving out `skip` (a function's reservation
        when the qualifier is None, else one provisioned config)."""
        reserved = sum(n for name, n in reservations.items() if skip != (name, None))
        provisioned = sum(
            c.requested
            for c in configs
            if c.function_name not in reservations and skip != (c.function_name, c.qualifier)
        )
        return self.account_limit - reserved - provisioned

    # -- reserved concurrency ------------------------------------------------

    async def put_reserved(self, function_name: str, reserved: int) -> int:
        name = await self._function(function_name)
        validation.check_range(reserved, "reservedConcurrentExecutions", 0, 2**31 - 1)
        reservations = await run_sync(self.store.reservations)
        configs = await run_sync(self.store.list_provisioned)
        # The function's own provisioned configs move inside its reservation.
        others = [c for c in configs if c.function_name != name]
        if self._unreserved(reservations, others, skip=(name, None)) - reserved < (
            self.min_unreserved
        ):
            raise InvalidParameterValue(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{self.min_unreserved}]."
            )
        provisioned = sum(c.requested for c in configs if c.function_name == name)
        if reserved < provisioned:
            raise InvalidParameterValue(
                f"Specified ReservedConcurrentExecutions for function is less than the "
                f"function's provisioned concurrency [{provisioned}]."
            )
        if not await run_sync(self.store.set_reserved, name, reserved):
            raise self._not_found(name)
        log.info("function %s: reserved concurrency %d", name, reserved)
        await self._notify(name)
        return reserved

    async def get_reserved(self, function_name: str) -> int | None:
        name = await self._function(function_name)
        return (await self.catalog.get_function(name)).reserved_concurrency

    async def delete_reserved(self, function_name: str) -> None:
        name = await self._function(function_name)
        if not await run_sync(self.store.set_reserved, name, None):
            raise self._not_found(name)
        log.info("function %s: reserved concurrency removed", name)
        await self._notify(name)

    # -- provisioned concurrency ----------------------------------------------

    async def put_provisioned(
        self, function_name: str, qualifier: str | None, requested: int
    ) -> ProvisionedRow:
        validation.check_range(requested, "provisionedConcurrentExecutions", 1, 2**31 - 1)
        ref = self.account.resolve(function_name, qualifier)
        if ref.qualifier in (None, LATEST):
            raise InvalidParameterValue(NOT_PUBLISHED)
        function = await self.catalog.get_function(ref.name)
        configs = await run_sync(self.store.list_provisioned)
        await self._check_alias_rules(ref, configs)
        check_provisioned((await self.catalog.resolve(ref)).version)
        own_others = sum(
            c.requested
            for c in configs
            if c.function_name == ref.name and c.qualifier != ref.qualifier
        )
        reserved = function.reserved_concurrency
        if reserved is not None and own_others + requested > reserved:
            raise InvalidParameterValue(
                "Requested Provisioned Concurrency should not be greater than the "
                "reservedConcurrentExecution for function"
            )
        if reserved is None:
            reservations = await run_sync(self.store.reservations)
            unreserved = self._unreserved(reservations, configs, skip=(ref.name, ref.qualifier))
            if unreserved - requested < self.min_unreserved:
                raise InvalidParameterValue(
                    "Specified ConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of "
                    f"[{self.min_unreserved}]."
                )
        assert ref.qualifier is not None
        row = ProvisionedRow(ref.name, ref.qualifier, requested, time.time())
        await run_sync(self.store.put_provisioned, row)
        log.info("function %s:%s: provisioned concurrency %d", ref.name, ref.qualifier, requested)
        await self._notify(ref.name)
        return row

    async def get_provisioned(self, function_name: str, qualifier: str | None) -> ProvisionedRow:
        ref = await self._provisioned_ref(function_name, qualifier)
        assert ref.qualifier is not None
        row = await run_sync(self.store.get_provisioned, ref.name, ref.qualifier)
        if row is None:
            raise ProvisionedConfigNotFound(NO_CONFIG)
        return row

    async def delete_provisioned(self, function_name: str, qualifier: str | None) -> None:
        ref = await self._provisioned_ref(function_name, qualifier)
        assert ref.qualifier is not None
        if not await run_sync(self.store.delete_provisioned, ref.name, ref.qualifier):
            raise ProvisionedConfigNotFound(NO_CONFIG)
        log.info("function %s:%s: provisioned concurrency removed", ref.name, ref.qualifier)
        await self._notify(ref.name)

    async def list_provisioned(
        self, function_name: str, marker: str | None, max_items: int
    ) -> tuple[list[ProvisionedRow], str | None]:
        name = await self._function(function_name)
        validation.check_range(max_items, "maxItems", 1, MAX_PROVISIONED_PAGE)
        rows = await run_sync(self.store.list_provisioned, name)  # in qualifier order
        return page_after(rows, lambda r: r.qualifier, marker, max_items)

    async def provisioned_targets(self) -> list[ProvisionedTarget]:
        """Every config of every region with the version it should run now (configs
        whose alias or version is gone are dropped: the version was deleted, so is
        its config)."""
        targets: list[ProvisionedTarget] = []
        for region in await run_sync(self.catalog.functions.regions):
            targets += await self.in_region(region).provisioned_targets_here()
        return targets

    async def provisioned_targets_here(self) -> list[ProvisionedTarget]:
        """`provisioned_targets` of this region."""
        targets: list[ProvisionedTarget] = []
        for row in await run_sync(self.store.list_provisioned):
            try:
                version = await self._target_version(FunctionRef(row.function_name, row.qualifier))
            except ResourceNotFound:
                await run_sync(self.store.delete_provisioned, row.function_name, row.qualifier)
                log.info(
                    "function %s:%s: provisioned concurrency removed with its target",
                    row.function_name,
                    row.qualifier,
                )
                continue
            targets.append(ProvisionedTarget(row, version))
        return targets

    async def provisioned_for(self, function_name: str, qualifier: str | None) -> int:
        """How many provisioned environments an invoke of this qualifier may use."""
        if qualifier in (None, LATEST):
            return 0
        assert qualifier is not None
        row = await run_sync(self.store.get_provisioned, function_name, qualifier)
        return 0 if row is None else row.requested

    # -- recursion -------------------------------------------------------------

    async def put_recursion(self, function_name: str, recursive_loop: str) -> str:
        name = await self._function(function_name)
        if recursive_loop not in RECURSIVE_LOOP_VALUES:
            raise ValidationError(
                "1 validation error detected: Value '"
                f"{recursive_loop}' at 'recursiveLoop' failed to satisfy constraint: Member "
                f"must satisfy enum value set: [{', '.join(RECURSIVE_LOOP_VALUES)}]"
            )
        await run_sync(self.store.put_recursion, name, recursive_loop)
        log.info("function %s: recursive loop %s", name, recursive_loop)
        await self._notify(name)
        return recursive_loop

    async def get_recursion(self, function_name: str) -> str:
        name = await self._function(function_name)
        return await self.recursion_of(name)

    async def recursion_of(self, name: str) -> str:
        return await run_sync(self.store.get_recursion, name) or DEFAULT_RECURSIVE_LOOP

    # -- the steps ---------------------------------------------------------------

    async def _function(self, function_name: str) -> str:
        """The name of an existing function, from an unqualified FunctionName."""
        ref = self.account.parse_function_name(function_name)
        if ref.qualifier is not None:
            raise InvalidParameterValue(
                "This operation is not supported on a qualified function; "
                f"pass the function name without :{ref.qualifier}."
            )
        await self.catalog.get_function(ref.name)
        return ref.name

    async def _provisioned_ref(self, function_name: str, qualifier: str | None) -> FunctionRef:
        ref = self.account.resolve(function_name, qualifier)
        if ref.qualifier in (None, LATEST):
            raise InvalidParameterValue(NOT_A_VERSION)
        await self._target_version(ref)
        return ref

    async def _target_version(self, ref: FunctionRef) -> Version:
        """The published version a version number or alias names, or AWS's not-found."""
        return (await self.catalog.resolve(ref)).version

    async def _check_alias_rules(self, ref: FunctionRef, configs: list[ProvisionedRow]) -> None:
        """AWS's rules between aliases and versions: one config per version, reached
        either through the version or through one alias without weights."""
        target = await self.catalog.resolve(ref)
        if target.alias is not None and target.routes:
            raise InvalidParameterValue(
                "Alias with weights can not be used with Provisioned Concurrency"
            )
        for config in configs:
            if config.function_name != ref.name or config.qualifier == ref.qualifier:
                continue
            if target.alias is not None and config.qualifier == target.version.version:
                raise ResourceConflict(
                    "Alias can't be used for Provisioned Concurrency configuration on an "
                    "already Provisioned version"
                )
            if target.alias is None and not config.qualifier.isdigit():
                try:
                    other = await self.catalog.resolve(FunctionRef(ref.name, config.qualifier))
                except ResourceNotFound:
                    continue
                if other.version.version == target.version.version:
                    raise ResourceConflict("Version is pointed by a Provisioned Concurrency alias")

    def _not_found(self, name: str) -> ResourceNotFound:
        return ResourceNotFound(f"Function not found: {self.account.function_arn(name)}")

    async def notify(self, name: str) -> None:
        """Tell the listeners of a change made by another process (`workers.bus`)."""
        await self._notify(name)

    async def _notify(self, name: str) -> None:
        for listener in self._listeners:
            await listener(name)
