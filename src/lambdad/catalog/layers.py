"""Layers: publish, read, list and delete layer versions, their permissions, and
the rules for a function's `Layers`.

A layer version is immutable: its zip (checked like function code), its
compatible runtimes and architectures. Version numbers count up per layer
name and are never reused, even after DeleteLayerVersion. A function keeps
the content of the layer versions it was configured with (`LayerRef`), so a
deleted version keeps working for the functions that already use it; its
blob is released once none does (`sweep`).
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lambdad.catalog import validation
from lambdad.catalog.code import MAX_UNZIPPED_BYTES, CodePackage, inspect_zip
from lambdad.catalog.constraints import check_string
from lambdad.catalog.layer_policies import (
    NO_POLICY,
    LayerPermission,
    LayerPolicy,
    add_statement,
    check_statement_id,
    policy_of,
    remove_statement,
)
from lambdad.catalog.markers import decode_marker, encode_marker, page_size
from lambdad.catalog.model import LayerRef
from lambdad.catalog.names import Account, constraint_message
from lambdad.catalog.regional import Regional
from lambdad.catalog.runtimes import ALL_RUNTIMES as FUNCTION_RUNTIMES
from lambdad.concurrency import run_sync
from lambdad.errors import (
    InvalidParameterValue,
    ResourceNotFound,
    ValidationError,
)
from lambdad.store import BlobStore
from lambdad.store.layers import LayerStore, LayerVersionRow

log = logging.getLogger(__name__)

_REGION = r"(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}"
# botocore's LayerNameOrArn and LayerVersionArn patterns.
LAYER_NAME_OR_ARN_PATTERN = (
    rf"(arn:(aws[a-zA-Z-]*)?:lambda:{_REGION}:\d{{12}}:layer:[a-zA-Z0-9-_]{{1,140}}"
    r"|[a-zA-Z0-9-_]{1,140})"
)
LAYER_VERSION_ARN_PATTERN = (
    rf"((arn:(aws[a-zA-Z-]*)?:lambda:{_REGION}:\d{{12}}:layer:[a-zA-Z0-9-_]+:[0-9]+)"
    r"|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+))"
)
_LAYER_ARN = re.compile(
    r"arn:(?:aws[a-zA-Z-]*)?:lambda:(?P<region>(?:eusc-)?[a-z]{2}(?:(?:-gov)|(?:-iso[a-z]?))?"
    r"-[a-z]+-\d):(?P<account>\d{12}):layer:(?P<name>[a-zA-Z0-9-_]+)(?::(?P<version>[0-9]+))?"
)
# botocore's Runtime enum: what CompatibleRuntimes and the list filters accept, which
# includes names a function cannot use yet (and "custom").
ALL_RUNTIMES = FUNCTION_RUNTIMES + tuple(
    r
    for r in (
        "nodejs26.x",
        "python3.15",
        "java8.al2023",
        "java11.al2023",
        "java17.al2023",
        "custom",
    )
    if r not in FUNCTION_RUNTIMES
)
MAX_ARN_LENGTH = 2048
MAX_LIST_ITEMS = 50
MAX_COMPATIBLE_RUNTIMES = 15
MAX_LICENSE_INFO = 512
ARCHITECTURES = ("x86_64", "arm64")

NOT_FOUND = "The resource you requested does not exist."


@dataclass(frozen=True)
class LayerVersion:
    layer_name: str
    version: int
    layer_arn: str
    version_arn: str
    description: str
    license_info: str | None
    compatible_runtimes: tuple[str, ...]
    compatible_architectures: tuple[str, ...]
    code_sha256: str
    """Base64 SHA-256 of the zip (AWS's CodeSha256)."""
    code_key: str
    """Hex SHA-256: the zip's key in the blob store."""
    code_size: int
    unzipped_size: int
    created_at: float

    def matches(self, runtime: str | None, architecture: str | None) -> bool:
        """ListLayers / ListLayerVersions filters: both must hold when given."""
        if runtime is not None and runtime not in self.compatible_runtimes:
            return False
        return architecture is None or architecture in self.compatible_architectures


@dataclass(frozen=True)
class LayerQuery:
    """ListLayers / ListLayerVersions parameters: filters and a page."""

    runtime: str | None = None
    architecture: str | None = None
    marker: str | None = None
    max_items: int | None = None


@dataclass
class _SweepState:
    tombstones_in_use: bool = True
    """Whether a deleted version may still wait for its last function (unknown at start)."""


@dataclass(frozen=True)
class LayerPage:
    versions: list[LayerVersion]
    next_marker: str | None


class LayerCatalog(Regional):
    def __init__(self, account: Account, layers: LayerStore, blobs: BlobStore) -> None:
        self.account = account
        self.layers = layers
        self.blobs = blobs
        self._sweep = _SweepState()
        """Shared by the catalogs of every region: the sweep is the server's."""

    def layer_arn(self, name: str, region: str | None = None) -> str:
        region = region or self.account.region
        return f"arn:aws:lambda:{region}:{self.account.account_id}:layer:{name}"

    # -- layer versions ------------------------------------------------------

    async def publish(
        self,
        layer_name: str,
        zip_file: bytes | None,
        *,
        description: str = "",
        compatible_runtimes: Sequence[str] = (),
        compatible_architectures: Sequence[str] = (),
        license_info: str | None = None,
    ) -> LayerVersion:
        name = self._layer_name(layer_name)
        validation.check_description(description)
        _check_runtimes(compatible_runtimes)
        _check_architectures(compatible_architectures)
        if license_info is not None and len(license_info) > MAX_LICENSE_INFO:
            raise ValidationError(
                constraint_message(
                    license_info,
                    "licenseInfo",
                    f"Member must have length less than or equal to {MAX_LICENSE_INFO}",
                )
            )
        # No content is answered as an empty zip is (AWS: "... must be a non-empty zip").
        package: CodePackage = await run_sync(inspect_zip, zip_file or b"")
        await run_sync(self.blobs.put, package.data)
        config = {
            "description": description,
            "license_info": license_info,
            "compatible_runtimes": list(compatible_runtimes),
            "compatible_architectures": list(compatible_architectures),
            "unzipped_size": package.unzipped_size,
            "policy": None,
        }
        now = time.time()

        def build(number: int) -> LayerVersionRow:
            return LayerVersionRow(name, number, package.sha256_hex, package.size, config, now)

        row = await run_sync(self.layers.publish, name, build)
        log.info("layer %s: published version %d (%d bytes)", name, row.version, package.size)
        return self._version(row)

    async def get(self, layer_name: str, version: int) -> LayerVersion:
        return self._version(await self._live_row(self._layer_name(layer_name), version))

    async def get_by_arn(self, arn: str) -> LayerVersion:
        name, version = self._parse_version_arn(arn, "arn")
        return self._version(await self._live_row(name, version))

    async def list_versions(self, layer_name: str, query: LayerQuery) -> LayerPage:
        """A layer's versions, newest first; an unknown layer has none."""
        name = self._layer_name(layer_name)
        limit = _check_query(query)
        runtime, architecture = query.runtime, query.architecture
        below = _decode_marker(query.marker, int) if query.marker else None
        rows = await run_sync(self.layers.versions, name)
        matching = [
            v
            for v in map(self._version, rows)
            if v.matches(runtime, architecture) and (below is None or v.version < below)
        ]
        page = matching[:limit]
        more = len(matching) > limit
        return LayerPage(page, encode_marker(str(page[-1].version)) if more else None)

    async def list_layers(self, query: LayerQuery) -> LayerPage:
        """Each layer's newest version that matches the filters, in layer name order."""
        limit = _check_query(query)
        runtime, architecture = query.runtime, query.architecture
        after = _decode_marker(query.marker, str) if query.marker else None

        def collect() -> tuple[list[LayerVersion], bool]:
            found: list[LayerVersion] = []
            for rows in self.layers.layers_after(after):
                newest = next(
                    (v for v in map(self._version, rows) if v.matches(runtime, architecture)),
                    None,
                )
                if newest is None:
                    continue
                if len(found) == limit:
                    return found, True
                found.append(newest)
            return found, False

        page, more = await run_sync(collect)
        return LayerPage(page, encode_marker(page[-1].layer_name) if more else None)

    async def code_size_total(self) -> int:
        """Bytes of the live layer versions' zips."""
        return await run_sync(self.layers.code_size_total)

    async def delete(self, layer_name: str, version: int) -> None:
        """DeleteLayerVersion: idempotent, as on AWS (a missing version is not an error)."""
        name = self._layer_name(layer_name)
        row = await run_sync(self.layers.mark_deleted, name, version)
        if row is not None:
            log.info("layer %s: version %d deleted", name, version)
            self._sweep.tombstones_in_use = True
            await self.sweep()

    async def sweep(self) -> None:
        """Release the blobs of deleted layer versions (of every region) that no function
        uses any more.

        Runs after every function change; free unless a deleted version was still
        in use at the last sweep."""
        if not self._sweep.tombstones_in_use:
            return
        self._sweep.tombstones_in_use = False  # before reading: a delete meanwhile sets it
        tombstones = await run_sync(self.layers.tombstones)
        used = await run_sync(self.layers.layers_in_use) if tombstones else set()
        for region, row in tombstones:
            if f"{self.layer_arn(row.layer_name, region)}:{row.version}" in used:
                self._sweep.tombstones_in_use = True
                continue
            store = self.layers.in_region(region)
            await run_sync(store.release, row.layer_name, row.version)
            if not await run_sync(self.layers.blob_in_use, row.code_sha256):
                await run_sync(self.blobs.delete, row.code_sha256)

    # -- permissions ------------------------------------------------------------

    async def add_permission(
        self, layer_name: str, version: int, permission: LayerPermission, revision_id: str | None
    ) -> tuple[dict[str, Any], str]:
        """AddLayerVersionPermission: (the statement added, the policy's new RevisionId)."""
        name = self._layer_name(layer_name)
        statement = permission.statement(f"{self.layer_arn(name)}:{version}")
        row = await self._change_policy(
            name, version, lambda row: add_statement(row.config, statement, revision_id)
        )
        policy = policy_of(row.config)
        assert policy is not None
        return statement, policy.revision_id

    async def remove_permission(
        self, layer_name: str, version: int, statement_id: str, revision_id: str | None
    ) -> None:
        name = self._layer_name(layer_name)
        check_statement_id(statement_id)
        await self._change_policy(
            name, version, lambda row: remove_statement(row.config, statement_id, revision_id)
        )

    async def policy(self, layer_name: str, version: int) -> LayerPolicy:
        row = await self._live_row(self._layer_name(layer_name), version)
        policy = policy_of(row.config)
        if policy is None:
            raise ResourceNotFound(NO_POLICY)
        return policy

    # -- a function's Layers ------------------------------------------------------

    async def resolve(self, arns: Sequence[str]) -> tuple[LayerRef, ...]:
        """The layer versions a function's `Layers` names, or AWS's error for the list."""
        for arn in arns:  # the model's member constraints come first, as on AWS
            if not 1 <= len(arn) <= MAX_ARN_LENGTH or not re.fullmatch(
                LAYER_VERSION_ARN_PATTERN, arn
            ):
                raise ValidationError(
                    constraint_message(
                        "[" + ", ".join(arns) + "]",
                        "layers",
                        "Member must satisfy constraint: [Member must have length less than or "
                        f"equal to {MAX_ARN_LENGTH}, Member must have length greater than or "
                        "equal to 1, Member must satisfy regular expression pattern: "
                        f"{LAYER_VERSION_ARN_PATTERN}]",
                    )
                )
        if len(arns) > validation.MAX_LAYERS:
            raise InvalidParameterValue(
                f"Cannot reference more than {validation.MAX_LAYERS} layers."
            )
        seen: dict[str, str] = {}
        for arn in arns:
            layer = arn.rsplit(":", 1)[0]
            if layer in seen:
                raise InvalidParameterValue(
                    "Two different versions of the same layer are not allowed to be referenced "
                    f"in the same function. {seen[layer]} and {arn} are versions of the same "
                    "layer."
                )
            seen[layer] = arn
        refs: list[LayerRef] = []
        for arn in arns:
            version = await self._function_layer(arn)
            refs.append(
                LayerRef(version.version_arn, version.code_size, version.code_key,
                         version.unzipped_size)
            )  # fmt: skip
        return tuple(refs)

    @staticmethod
    def check_total_size(code_unzipped_size: int, refs: Sequence[LayerRef]) -> None:
        """Code plus layers unzipped stay within Lambda's 250 MB."""
        if not refs:
            return
        total = code_unzipped_size + sum(ref.unzipped_size for ref in refs)
        if total > MAX_UNZIPPED_BYTES:
            raise InvalidParameterValue(
                "Function code combined with layers exceeds the maximum allowed size of "
                f"{MAX_UNZIPPED_BYTES} bytes. The actual size is {total} bytes."
            )

    # -- the steps ------------------------------------------------------------------

    async def _function_layer(self, arn: str) -> LayerVersion:
        missing = InvalidParameterValue(f"Layer version {arn} does not exist.")
        match = _LAYER_ARN.fullmatch(arn)
        if match is None or match.group("version") is None:
            raise missing  # an AWS-managed `awslayer` ARN: none exists here
        if match.group("region") != self.account.region:
            # AWS's answer to a layer of another region (layers are regional).
            raise InvalidParameterValue(
                "Layers are not in the same region as the function. "
                f"Layers are expected to be in region {self.account.region}."
            )
        if match.group("account") != self.account.account_id:
            raise missing
        row = await run_sync(self.layers.get, match.group("name"), int(match.group("version")))
        if row is None or row.deleted:
            raise missing
        return self._version(row)

    async def _live_row(self, name: str, version: int) -> LayerVersionRow:
        row = await run_sync(self.layers.get, name, version) if version >= 1 else None
        if row is None or row.deleted:
            raise ResourceNotFound(NOT_FOUND)
        return row

    async def _change_policy(
        self, name: str, version: int, change: Callable[[LayerVersionRow], dict[str, Any]]
    ) -> LayerVersionRow:
        row = await run_sync(self.layers.update_config, name, version, change)
        if row is None:
            raise ResourceNotFound(NOT_FOUND)
        return row

    def _layer_name(self, value: str) -> str:
        """The layer name in a LayerName parameter (a name or a layer ARN)."""
        check_string(value, "layerName", 1, MAX_ARN_LENGTH, LAYER_NAME_OR_ARN_PATTERN)
        match = _LAYER_ARN.fullmatch(value)
        if match is None:
            return value
        if (match.group("region"), match.group("account")) != (
            self.account.region,
            self.account.account_id,
        ):
            raise ResourceNotFound(NOT_FOUND)  # another account's or region's layer
        return match.group("name")

    def _parse_version_arn(self, arn: str, member: str) -> tuple[str, int]:
        if not 1 <= len(arn) <= MAX_ARN_LENGTH or not re.fullmatch(LAYER_VERSION_ARN_PATTERN, arn):
            raise ValidationError(
                constraint_message(
                    arn,
                    member,
                    f"Member must satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}",
                )
            )
        match = _LAYER_ARN.fullmatch(arn)
        if match is None or match.group("version") is None:
            raise ResourceNotFound(NOT_FOUND)
        if (match.group("region"), match.group("account")) != (
            self.account.region,
            self.account.account_id,
        ):
            raise ResourceNotFound(NOT_FOUND)
        return match.group("name"), int(match.group("version"))

    def _version(self, row: LayerVersionRow) -> LayerVersion:
        config = row.config
        layer_arn = self.layer_arn(row.layer_name)
        return LayerVersion(
            layer_name=row.layer_name,
            version=row.version,
            layer_arn=layer_arn,
            version_arn=f"{layer_arn}:{row.version}",
            description=config.get("description") or "",
            license_info=config.get("license_info"),
            compatible_runtimes=tuple(config.get("compatible_runtimes") or ()),
            compatible_architectures=tuple(config.get("compatible_architectures") or ()),
            code_sha256=base64.b64encode(bytes.fromhex(row.code_sha256)).decode(),
            code_key=row.code_sha256,
            code_size=row.code_size,
            unzipped_size=int(config.get("unzipped_size") or 0),
            created_at=row.created_at,
        )


def _check_runtimes(runtimes: Sequence[str]) -> None:
    if len(runtimes) > MAX_COMPATIBLE_RUNTIMES:
        raise ValidationError(
            constraint_message(
                list(runtimes),
                "compatibleRuntimes",
                f"Member must have length less than or equal to {MAX_COMPATIBLE_RUNTIMES}",
            )
        )
    for runtime in runtimes:
        if runtime not in ALL_RUNTIMES:
            raise ValidationError(
                constraint_message(
                    list(runtimes),
                    "compatibleRuntimes",
                    "Member must satisfy constraint: [Member must satisfy enum value set: "
                    f"[{', '.join(ALL_RUNTIMES)}]]",
                )
            )


def _check_architectures(architectures: Sequence[str]) -> None:
    if len(architectures) > len(ARCHITECTURES) or any(
        a not in ARCHITECTURES for a in architectures
    ):
        raise ValidationError(
            constraint_message(
                list(architectures),
                "compatibleArchitectures",
                "Member must have length less than or equal to 2, Member must satisfy "
                "constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
            )
        )


def _check_query(query: LayerQuery) -> int:
    """Validate ListLayers/ListLayerVersions filters; the page size to use."""
    runtime, architecture, max_items = query.runtime, query.architecture, query.max_items
    if runtime is not None and runtime not in ALL_RUNTIMES:
        raise ValidationError(
            constraint_message(
                runtime,
                "compatibleRuntime",
                f"Member must satisfy enum value set: [{', '.join(ALL_RUNTIMES)}]",
            )
        )
    if architecture is not None and architecture not in ARCHITECTURES:
        raise ValidationError(
            constraint_message(
                architecture,
                "compatibleArchitecture",
                "Member must satisfy enum value set: [x86_64, arm64]",
            )
        )
    return page_size(max_items, MAX_LIST_ITEMS)


def _decode_marker(marker: str, kind: Callable[[str], Any]) -> Any:
    try:
        return kind(decode_marker(marker))
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid marker: {marker}") from exc
