"""Aliases: named pointers to a version, optionally splitting traffic with a second.

Also the one place where a qualifier is resolved (`Aliases.resolve`): a
FunctionName plus Qualifier becomes a `Target`, the version(s) it runs and the
ARN AWS writes for it. Invoke, GetFunction and every later part that takes a
qualifier (provisioned concurrency, event invoke configs, policies, triggers)
go through `Catalog.resolve`, which calls it.

AWS's rules, from botocore's model and the Lambda developer guide
("Create a routing configuration for a Lambda alias"): an alias name is not a
number, at most one additional version with a weight in [0, 1], both versions
published (no $LATEST) with the same execution role and dead-letter config.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from lambdad.catalog.constraints import Violations, java_map
from lambdad.catalog.model import LATEST, Version
from lambdad.catalog.names import FunctionRef
from lambdad.concurrency import run_sync
from lambdad.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from lambdad.store.aliases import AliasRow, AliasStore

if TYPE_CHECKING:
    from lambdad.catalog.service import Catalog

ALIAS_PATTERN = r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
VERSION_PATTERN = r"(\$LATEST(\.PUBLISHED)?|[0-9]+)"
WEIGHT_KEY_PATTERN = r"[0-9]+"
LATEST_PUBLISHED = "$LATEST.PUBLISHED"
MAX_ADDITIONAL_VERSIONS = 1
DESCRIPTION_MAX = 256
REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


def is_version(qualifier: str) -> bool:
    return qualifier in (LATEST, LATEST_PUBLISHED) or qualifier.isdigit()


def is_alias_name(qualifier: str) -> bool:
    """Whether a qualifier names an alias (not a version) by its form."""
    return not is_version(qualifier) and re.fullmatch(ALIAS_PATTERN, qualifier) is not None


@dataclass(frozen=True)
class Alias:
    function_name: str
    name: str
    arn: str
    function_version: str
    description: str
    weights: Mapping[str, float]
    """RoutingConfig.AdditionalVersionWeights: the second version and its share."""
    revision_id: str


@dataclass(frozen=True)
class Target:
    """What a FunctionName plus Qualifier names, resolved.

    `version` is the version itself, or an alias's primary version; `routes`
    holds an alias's weighted additional version. `arn` is the ARN as AWS
    writes it for this request: unqualified, or qualified by the qualifier as
    given (an alias ARN for an alias).
    """

    ref: FunctionRef
    arn: str
    version: Version
    alias: Alias | None = None
    routes: tuple[tuple[Version, float], ...] = field(default=())

    def pick(self, draw: float) -> Version:
        """The version one invocation runs, for a uniform `draw` in [0, 1)."""
        for version, weight in self.routes:
            if draw < weight:
                return version
            draw -= weight
        return self.version


@dataclass(frozen=True)
class AliasPage:
    aliases: list[Alias]
    next_marker: str | None


class Aliases:
    def __init__(self, catalog: Catalog, store: AliasStore) -> None:
        self.catalog = catalog
        self.store = store

    # -- resolution --------------------------------------------------------

    async def resolve(self, ref: FunctionRef) -> Target:
        account = self.catalog.account
        arn = account.function_arn(ref.name, ref.qualifier)
        if ref.qualifier is None or not is_alias_name(ref.qualifier):
            version = await self.catalog.get_version(ref)
            return Target(ref=ref, arn=arn, version=version)
        if await run_sync(self.catalog.functions.get_function, ref.name) is None:
            raise ResourceNotFound(f"Function not found: {arn}")
        alias = await self.get(ref.name, ref.qualifier)
        primary = await self.catalog.get_version(FunctionRef(ref.name, alias.function_version))
        routes = tuple(
            [
                (await self.catalog.get_version(FunctionRef(ref.name, number)), weight)
                for number, weight in alias.weights.items()
            ]
        )
        return Target(ref=ref, arn=arn, version=primary, alias=alias, routes=routes)

    # -- CRUD ----------------------------------------------------------------

    async def get(self, function_name: str, name: str) -> Alias:
        row = await run_sync(self.store.get, function_name, name)
        if row is None:
            raise self._not_found(function_name, name)
        return self._alias(row)

    async def get_checked(self, function_name: str, name: str) -> Alias:
        """GetAlias: the request's names validated, the function first, then the alias."""
        ref = await self._existing(function_name, name)
        return await self.get(ref.name, name)

    async def create(
        self,
        function_name: str,
        name: str | None,
        function_version: str | None,
        description: str | None,
        weights: Mapping[str, float] | None,
    ) -> Alias:
        ref = self._function(function_name)
        violations = Violations()
        if violations.required(name, "name"):
            violations.string(name, "name", 1, 128, ALIAS_PATTERN)
        if violations.required(function_version, "functionVersion"):
            violations.string(function_version, "functionVersion", 1, 1024, VERSION_PATTERN)
        violations.length(description, "description", 0, DESCRIPTION_MAX)
        _check_weights(violations, weights)
        violations.raise_if_any()
        assert name is not None and function_version is not None
        await self.catalog.get_function(ref.name)
        await self._check_routing(ref.name, function_version, weights or {})
        row = AliasRow(
            function_name=ref.name,
            name=name,
            function_version=function_version,
            description=description or "",
            routing_config=dict(weights) if weights else None,
            revision_id=str(uuid.uuid4()),
        )
        created = await run_sync(self.store.create, row)
        if created is None:
            raise ResourceNotFound(
                f"Function not found: {self.catalog.account.function_arn(ref.name)}"
            )
        if not created:
            raise ResourceConflict(f"Alias already exists: {self._arn(ref.name, name)}")
        await self.catalog.notify_alias_change(ref.name)
        return self._alias(row)

    async def update(
        self,
        function_name: str,
        name: str,
        function_version: str | None,
        description: str | None,
        weights: Mapping[str, float] | None,
        revision_id: str | None,
    ) -> Alias:
        """UpdateAlias: a None field keeps its value; an empty weight map drops the routing."""
        ref = self._function(function_name)
        violations = Violations()
        violations.string(name, "name", 1, 128, ALIAS_PATTERN)
        violations.string(function_version, "functionVersion", 1, 1024, VERSION_PATTERN)
        violations.length(description, "description", 0, DESCRIPTION_MAX)
        _check_weights(violations, weights)
        violations.raise_if_any()
        await self.catalog.get_function(ref.name)
        current = await run_sync(self.store.get, ref.name, name)
        if current is None:
            raise self._not_found(ref.name, name)
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailed(REVISION_MISMATCH)
        new_version = current.function_version if function_version is None else function_version
        if weights is None:
            new_weights = current.routing_config or {}
        else:
            new_weights = dict(weights)
        await self._check_routing(ref.name, new_version, new_weights)
        row = replace(
            current,
            function_version=new_version,
            description=current.description if description is None else description,
            routing_config=new_weights or None,
            revision_id=str(uuid.uuid4()),
        )
        if not await run_sync(self.store.replace, row, current.revision_id):
            raise PreconditionFailed(REVISION_MISMATCH)
        await self.catalog.notify_alias_change(ref.name)
        return self._alias(row)

    async def delete(self, function_name: str, name: str) -> None:
        ref = await self._existing(function_name, name)
        # Deleting an alias that is not there succeeds, as on AWS.
        if await run_sync(self.store.delete, ref.name, name):
            await self.catalog.notify_alias_change(ref.name)

    async def list(
        self,
        function_name: str,
        function_version: str | None,
        marker: str | None,
        max_items: int,
    ) -> AliasPage:
        ref = self._function(function_name)
        violations = Violations()
        violations.string(function_version, "functionVersion", 1, 1024, VERSION_PATTERN)
        violations.raise_if_any()
        await self.catalog.get_function(ref.name)
        rows = await run_sync(self.store.list, ref.name)
        if function_version is not None:
            rows = [r for r in rows if r.function_version == function_version]
        if marker:
            rows = [r for r in rows if r.name > marker]
        page = rows[:max_items]
        more = len(rows) > max_items
        return AliasPage(
            aliases=[self._alias(r) for r in page],
            next_marker=page[-1].name if more and page else None,
        )

    # -- the steps -----------------------------------------------------------

    def _function(self, function_name: str) -> FunctionRef:
        """The function an alias operation names; alias operations take no qualifier."""
        ref = self.catalog.account.parse_function_name(function_name)
        if ref.qualifier is not None:
            raise InvalidParameterValue(
                "Qualifiers are not supported for this operation; name the unqualified function."
            )
        return ref

    async def _existing(self, function_name: str, name: str) -> FunctionRef:
        """The function of a GetAlias/DeleteAlias: names valid, function there."""
        ref = self._function(function_name)
        violations = Violations()
        violations.string(name, "name", 1, 128, ALIAS_PATTERN)
        violations.raise_if_any()
        await self.catalog.get_function(ref.name)
        return ref

    async def _check_routing(
        self, name: str, function_version: str, weights: Mapping[str, float]
    ) -> None:
        """The version(s) must exist; a weighted alias must satisfy AWS's pairing rules."""
        primary = await self.catalog.get_version(FunctionRef(name, function_version))
        if not weights:
            return
        if len(weights) > MAX_ADDITIONAL_VERSIONS:
            raise InvalidParameterValue(
                "Number of items in AdditionalVersionWeights cannot be greater than 1"
            )
        for number in weights:
            if number == function_version:
                raise InvalidParameterValue(
                    f"Invalid function version {function_version}. Function version "
                    f"{function_version} is already included in routing configuration."
                )
            if function_version in (LATEST, LATEST_PUBLISHED):
                raise InvalidParameterValue(
                    "$LATEST is not supported for an alias pointing to more than 1 version"
                )
            other = await self.catalog.get_version(FunctionRef(name, number))
            # The wording of these two is ours: AWS documents the rule, not its message.
            if other.config.role != primary.config.role:
                raise InvalidParameterValue(
                    f"Both versions of an alias must have the same execution role: version "
                    f"{function_version} has {primary.config.role}, version {number} has "
                    f"{other.config.role}."
                )
            if other.config.dead_letter_target != primary.config.dead_letter_target:
                raise InvalidParameterValue(
                    "Both versions of an alias must have the same dead-letter queue "
                    f"configuration, or none: versions {function_version} and {number} differ."
                )

    def _arn(self, function_name: str, name: str) -> str:
        return self.catalog.account.function_arn(function_name, name)

    def _not_found(self, function_name: str, name: str) -> ResourceNotFound:
        return ResourceNotFound(f"Cannot find alias arn: {self._arn(function_name, name)}")

    def _alias(self, row: AliasRow) -> Alias:
        return Alias(
            function_name=row.function_name,
            name=row.name,
            arn=self._arn(row.function_name, row.name),
            function_version=row.function_version,
            description=row.description,
            weights=dict(row.routing_config or {}),
            revision_id=row.revision_id,
        )


def _check_weights(violations: Violations, weights: Mapping[str, float] | None) -> None:
    """botocore's AdditionalVersionWeights: keys [0-9]+ of length 1..1024, values in [0, 1]."""
    if not weights:
        return
    for key, value in weights.items():
        if not (1 <= len(key) <= 1024) or not key.isascii() or not key.isdigit():
            violations.add(
                java_map(weights),
                "routingConfig.additionalVersionWeights",
                "Map keys must satisfy constraint: [Member must have length less than or equal "
                "to 1024, Member must have length greater than or equal to 1, Member must "
                f"satisfy regular expression pattern: {WEIGHT_KEY_PATTERN}, Member must not be "
                "null]",
            )
            return
        if not 0.0 <= value <= 1.0:
            violations.add(
                java_map(weights),
                "routingConfig.additionalVersionWeights",
                "Map value must satisfy constraint: [Member must have value less than or equal "
                "to 1.0, Member must have value greater than or equal to 0.0, Member must not "
                "be null]",
            )
            return
