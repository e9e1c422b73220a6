"""The catalog: create, read, change and delete functions and their versions.

Rules live here; rows live in `store/`. Every change to `$LATEST` gets a new
RevisionId and goes Pending/InProgress until its code is unpacked into the
code cache, then Active/Successful (boto3's `function_active_v2` and
`function_updated_v2` waiters watch exactly that).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambdad.catalog import validation
from lambdad.catalog.aliases import Aliases, Target
from lambdad.catalog.code import CodePackage, inspect_zip
from lambdad.catalog.code_cache import CodeCache
from lambdad.catalog.destinations import check_dead_letter_target
from lambdad.catalog.image_code import (
    IMAGE,
    IMAGES_NEED_BWRAP,
    check_create_sources,
    check_image_config,
    check_image_package,
    check_update_sources,
    digest_hex,
    resolve_image,
    with_image,
)
from lambdad.catalog.layers import LayerCatalog
from lambdad.catalog.lifecycle import FAILED_CODE, Lifecycle, read_lifecycle, with_lifecycle
from lambdad.catalog.markers import decode_marker, encode_marker
from lambdad.catalog.model import (
    LATEST,
    Function,
    FunctionConfig,
    FunctionState,
    LastUpdateStatus,
    LoggingConfig,
    Version,
)
from lambdad.catalog.names import Account, FunctionRef
from lambdad.catalog.runtimes import check_runtime
from lambdad.catalog.snapstart import (
    OPTIMIZED,
    SnapStartFailed,
    SnapStartRestorer,
    check_snap_start,
)
from lambdad.catalog.versions import same_snapshot, snapshot_config
from lambdad.concurrency import run_sync
from lambdad.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    ValidationError,
)
from lambdad.images import ImageNotFound, ImageStore
from lambdad.store import AliasStore, BlobStore, FunctionRow, FunctionStore, VersionRow

log = logging.getLogger(__name__)

Spawn = Callable[[Callable[[], Awaitable[None]]], None]
"""Starts a coroutine function in the background (the server's task group)."""

# How often an activation retries its swap when the row changed under it.
ACTIVATION_ATTEMPTS = 5

REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


@dataclass(frozen=True)
class FunctionPage:
    versions: list[Version]
    next_marker: str | None


ChangeListener = Callable[[str], Awaitable[None]]
"""Told the function name after its code, configuration or aliases changed or it was deleted."""

VersionListener = Callable[[str, str | None], Awaitable[None]]
"""Told (function ARN, version) when that version changed or went away; version None
when the whole function did (the unqualified ARN names the function of one region).
Published versions never change, so their warm environments outlive changes to $LATEST."""


RoleCheck = Callable[[str], Awaitable[None]]
"""Raises AWS's error when a function's Role names no role of this server
(`iam.Roles.check_assumable`); None when roles are off (`--auth off`)."""


class Catalog:
    def __init__(
        self,
        account: Account,
        functions: FunctionStore,
        blobs: BlobStore,
        code_cache: CodeCache,
        spawn: Spawn,
        layers: LayerCatalog | None = None,
        check_role: RoleCheck | None = None,
        images: ImageStore | None = None,
        images_run: bool = True,
    ) -> None:
        """`images`: where ImageUri names container images (None: none exist here);
        `images_run`: False where the sandboxes cannot run them (the process backend)."""
        self.account = account
        self.images = images
        self.images_refused = None if images_run else IMAGES_NEED_BWRAP
        self.layers = layers
        self.check_role = check_role
        self.functions = functions
        self.blobs = blobs
        self.code_cache = code_cache
        self._spawn = spawn
        self._listeners: list[ChangeListener] = []
        self._version_listeners: list[VersionListener] = []
        self.snapstart: SnapStartRestorer | None = None
        """Restores SnapStart versions (set by the server); None: none is restored."""
        self.aliases = Aliases(self, AliasStore(functions.engine, functions.region))
        self._regions: dict[str, Catalog] = {account.region: self}

    def in_region(self, region: str) -> Catalog:
        """The catalog of `region` on this server: that region's functions, aliases and
        layers; the same code cache, background and change listeners."""
        found = self._regions.get(region)
        if found is None:
            found = copy.copy(self)
            found.account = dataclasses.replace(self.account, region=region)
            found.functions = self.functions.in_region(region)
            found.aliases = Aliases(found, self.aliases.store.in_region(region))
            found.layers = None if self.layers is None else self.layers.in_region(region)
            self._regions[region] = found
        return found

    def on_change(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def on_version_change(self, listener: VersionListener) -> None:
        self._version_listeners.append(listener)

    async def resolve(self, ref: FunctionRef) -> Target:
        """What a FunctionName + Qualifier names: a version, or an alias and its versions.

        The one place qualifiers are resolved; every operation that takes a
        qualifier (or a qualified ARN) calls it.
        """
        return await self.aliases.resolve(ref)

    # -- reads -----------------------------------------------------------

    async def get_function(self, name: str) -> Function:
        row = await run_sync(self.functions.get_function, name)
        latest = await run_sync(self.functions.get_version, name, LATEST)
        if row is None or latest is None:
            raise ResourceNotFound(f"Function not found: {self.account.function_arn(name)}")
        return Function(
            name=row.name,
            arn=self.account.function_arn(row.name),
            tags=row.tags,
            reserved_concurrency=row.reserved_concurrency,
            latest=self._version(latest),
        )

    async def get_version(self, ref: FunctionRef) -> Version:
        """The version a reference names ($LATEST or a number; `resolve` also takes aliases)."""
        qualifier = ref.qualifier or LATEST
        row = await run_sync(self.functions.get_version, ref.name, qualifier)
        if row is None:
            arn = self.account.function_arn(ref.name, ref.qualifier)
            raise ResourceNotFound(f"Function not found: {arn}")
        return self._version(row)

    async def list_functions(
        self, marker: str | None, max_items: int, all_versions: bool
    ) -> FunctionPage:
        after = decode_marker(marker) if marker else None
        validation.check_range(max_items, "maxItems", 1, 10000)
        rows = await run_sync(self.functions.list_functions, after, max_items + 1, all_versions)
        names = sorted({r.function_name for r in rows})
        more = len(names) > max_items
        keep = set(names[:max_items])
        versions = [self._version(r) for r in rows if r.function_name in keep]
        next_marker = encode_marker(names[max_items - 1]) if more else None
        return FunctionPage(versions=versions, next_marker=next_marker)

    async def account_usage(self) -> tuple[int, int]:
        """(function count, total code bytes of functions and layers, as AWS counts them)."""
        count = await run_sync(self.functions.count_functions)
        size = await run_sync(self.functions.code_size_total)
        if self.layers is not None:
            size += await self.layers.code_size_total()
        return count, size

    async def code_zip(self, code_key: str) -> bytes:
        return await run_sync(self.blobs.get, code_key)

    async def resume_pending(self) -> None:
        """Finish activations a stopped server left Pending/InProgress."""
        marker: str | None = None
        while True:
            page = await self.list_functions(marker, 1000, all_versions=True)
            for version in page.versions:
                if version.state is FunctionState.PENDING or (
                    version.last_update_status is LastUpdateStatus.IN_PROGRESS
                ):
                    row = await run_sync(
                        self.functions.get_version, version.function_name, version.version
                    )
                    if row is not None:
                        self._activate_later(row)
            if page.next_marker is None:
                return
            marker = page.next_marker

    # -- changes ---------------------------------------------------------

    async def create_function(
        self,
        function_name: str,
        config: FunctionConfig,
        zip_file: bytes | None,
        tags: Mapping[str, str],
        publish: bool = False,
        image_uri: str | None = None,
    ) -> Version:
        # AWS answers a bad plain name (no ARN parts) of CreateFunction with
        # InvalidParameterValueException, anything else with ValidationException.
        invalid = InvalidParameterValue if ":" not in function_name else ValidationError
        ref = self.account.parse_function_name(function_name, invalid=invalid)
        if ref.qualifier is not None:
            raise InvalidParameterValue(
                "Qualifiers are not allowed in the function name of CreateFunction."
            )
        config = _with_default_logging(config, ref.name)
        self._check_config(config)
        if self.check_role is not None:
            await self.check_role(config.role)
        validation.check_tags(tags)
        check_create_sources(config.package_type, image_uri, zip_file is not None)
        if image_uri is not None:
            image = await resolve_image(
                self.images, image_uri, config.architectures, self.images_refused
            )
            config = with_image(config, image_uri, image)
            code_key, code_size = digest_hex(image), image.size_bytes
        else:
            package = await self._accept_code(zip_file)
            config = await self._with_layers(config, package.unzipped_size)
            await run_sync(self.blobs.put, package.data)
            code_key, code_size = package.sha256_hex, package.size
        now = time.time()
        latest = self._new_latest(ref.name, config, code_key, code_size, now)
        function = FunctionRow(
            name=ref.name,
            created_at=now,
            tags=dict(tags),
            next_version=1,
            reserved_concurrency=None,
        )
        if not await run_sync(self.functions.create_function, function, latest):
            raise ResourceConflict(f"Function already exist: {ref.name}")
        log.info(
            "function %s: created (%s, %d bytes)",
            ref.name,
            config.resolved_image_uri or config.runtime,
            code_size,
        )
        # Publish before activating: activation gives $LATEST a new RevisionId.
        published = await self._publish(ref.name, latest.revision_id, False) if publish else None
        self._activate_later(latest)
        # With Publish, AWS answers with the new version ("1"), Pending like $LATEST.
        return self._version(published or latest)

    async def update_code(
        self,
        function_name: str,
        zip_file: bytes | None,
        *,
        publish: bool = False,
        dry_run: bool = False,
        revision_id: str | None = None,
        architectures: tuple[str, ...] | None = None,
        image_uri: str | None = None,
    ) -> Version:
        """UpdateFunctionCode with a zip (`zip_file`) or, for an Image function, `image_uri`."""
        ref = self._unqualified(function_name)
        current = await self._latest_row(ref.name)
        self._check_revision(current, revision_id)
        config = FunctionConfig.from_json(current.config)
        check_update_sources(config.package_type, image_uri, zip_file is not None)
        if architectures is not None:
            validation.check_architectures(architectures)
            config = dataclasses.replace(config, architectures=architectures)
        if image_uri is not None:
            image = await resolve_image(
                self.images, image_uri, config.architectures, self.images_refused
            )
            config = with_image(config, image_uri, image)
            code: tuple[str, int] = (digest_hex(image), image.size_bytes)
        else:
            package = await self._accept_code(zip_file)
            if self.layers is not None:
                self.layers.check_total_size(package.unzipped_size, config.layer_refs)
            if not dry_run:
                await run_sync(self.blobs.put, package.data)
            code = (package.sha256_hex, package.size)
        updated = self._changed(current, config, code)
        if dry_run:
            return self._version(updated)
        await self._replace(updated, current.revision_id, conditional=revision_id is not None)
        if code[0] == current.code_sha256:
            log.info("function %s: code redeployed unchanged (%d bytes)", ref.name, code[1])
        else:
            log.info("function %s: code updated (%d bytes)", ref.name, code[1])
        published = None
        if publish:  # before activating, which gives $LATEST a new RevisionId
            published = await self._publish_unless_published(
                ref.name, updated, revision_id is not None
            )
        self._activate_later(updated)
        await self._notify(ref.name, LATEST)
        return self._version(published or updated)

    async def update_configuration(
        self, function_name: str, changes: Mapping[str, Any], revision_id: str | None = None
    ) -> Version:
        ref = self._unqualified(function_name)
        current = await self._latest_row(ref.name)
        self._check_revision(current, revision_id)
        before = FunctionConfig.from_json(current.config)
        config = dataclasses.replace(before, **changes)
        self._check_config(config)
        if self.check_role is not None and "role" in changes and changes["role"] != before.role:
            await self.check_role(config.role)
        if "layers" in changes:
            config = await self._with_layers(config, None, current.code_sha256)
        updated = self._changed(current, config, None)
        await self._replace(updated, current.revision_id, conditional=revision_id is not None)
        differ = sorted(k for k, v in changes.items() if getattr(before, k) != v)
        if differ:
            log.info("function %s: configuration updated (%s)", ref.name, ", ".join(differ))
        else:
            log.info("function %s: configuration redeployed unchanged", ref.name)
        self._activate_later(updated)
        await self._notify(ref.name, LATEST)
        return self._version(updated)

    async def publish_version(
        self,
        function_name: str,
        *,
        code_sha256: str | None = None,
        description: str | None = None,
        revision_id: str | None = None,
    ) -> Version:
        """PublishVersion: snapshot $LATEST, unless the newest version already is one."""
        ref = self._unqualified(function_name)
        latest = await self._latest_row(ref.name)
        self._check_revision(latest, revision_id)
        current = self._version(latest)
        if code_sha256 is not None and code_sha256 != current.code_sha256:
            raise InvalidParameterValue(
                f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
                f"({current.code_sha256}). Please try again with the CodeSHA256 in $LATEST."
            )
        if description is not None:
            validation.check_description(description)
        row = await self._publish_unless_published(
            ref.name, latest, revision_id is not None, description
        )
        return self._version(row)

    async def list_versions(self, function_name: str) -> list[Version]:
        ref = self._unqualified(function_name)
        await self._latest_row(ref.name)
        return [self._version(r) for r in await run_sync(self.functions.list_versions, ref.name)]

    async def delete_function(self, function_name: str, qualifier: str | None = None) -> None:
        """DeleteFunction: the function with everything of it, or one published version.

        A version that does not exist is already deleted (204, as on AWS); a
        version an alias routes to is refused with AWS's conflict.
        """
        ref = self.account.resolve(function_name, qualifier)
        await self.get_function(ref.name)
        if ref.qualifier == LATEST:
            raise InvalidParameterValue(
                "$LATEST version cannot be deleted without deleting the function."
            )
        if ref.qualifier is not None and not ref.qualifier.isdigit():
            raise InvalidParameterValue("Deletion of aliases is not supported.")
        if ref.qualifier is None:
            rows = await run_sync(self.functions.delete_function, ref.name)
            log.info("function %s: deleted", ref.name)
        else:
            deleted = await run_sync(self.functions.delete_version, ref.name, ref.qualifier)
            if isinstance(deleted, list):
                raise ResourceConflict(
                    "Unable to delete version because the following aliases reference it: "
                    f"[{', '.join(deleted)}]"
                )
            if not deleted:
                return
            rows = [deleted]
            log.info("function %s: version %s deleted", ref.name, ref.qualifier)
        await self._notify(ref.name, ref.qualifier)
        for key in {r.code_sha256 for r in rows}:
            if not await run_sync(self.functions.blob_in_use, key):
                await run_sync(self.blobs.delete, key)

    async def tag(self, resource_arn: str, tags: Mapping[str, str]) -> None:
        name = self.account.parse_function_arn(resource_arn)
        function = await self.get_function(name)
        merged = {**function.tags, **tags}
        validation.check_tags(merged)
        await run_sync(self.functions.set_tags, name, merged)

    async def untag(self, resource_arn: str, keys: list[str]) -> None:
        name = self.account.parse_function_arn(resource_arn)
        function = await self.get_function(name)
        remaining = {k: v for k, v in function.tags.items() if k not in set(keys)}
        await run_sync(self.functions.set_tags, name, remaining)

    async def tags(self, resource_arn: str) -> Mapping[str, str]:
        name = self.account.parse_function_arn(resource_arn)
        return (await self.get_function(name)).tags

    # -- the steps ---------------------------------------------------------

    def _unqualified(self, function_name: str) -> FunctionRef:
        ref = self.account.parse_function_name(function_name)
        if ref.qualifier is not None:
            raise InvalidParameterValue(
                "Qualifiers are not supported for this operation; update $LATEST by its name."
            )
        return ref

    async def _latest_row(self, name: str) -> VersionRow:
        row = await run_sync(self.functions.get_version, name, LATEST)
        if row is None:
            raise ResourceNotFound(f"Function not found: {self.account.function_arn(name)}")
        return row

    def _check_revision(self, current: VersionRow, revision_id: str | None) -> None:
        """AWS's preconditions for changing $LATEST: the right revision, no change under way."""
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailed(REVISION_MISMATCH)
        lifecycle = read_lifecycle(current.config)
        if lifecycle.state is FunctionState.PENDING:
            raise ResourceConflict(
                "The operation cannot be performed at this time. The function is currently in "
                "the following state: Pending"
            )
        if lifecycle.last_update_status is LastUpdateStatus.IN_PROGRESS:
            raise ResourceConflict(
                "The operation cannot be performed at this time. An update is in progress for "
                f"resource: {self.account.function_arn(current.function_name)}"
            )

    @staticmethod
    def _check_config(config: FunctionConfig) -> None:
        validation.check_members(config)
        if config.package_type == IMAGE:
            check_image_package(config)
        else:
            validation.check_runtime_and_handler_given(config.runtime, config.handler)
            check_runtime(config.runtime)
        check_image_config(config.package_type, config.image_config)
        validation.check_environment(config.environment)
        validation.check_logging(config.logging)
        check_dead_letter_target(config.dead_letter_target)
        check_snap_start(config)

    async def _with_layers(
        self, config: FunctionConfig, unzipped_size: int | None, code_key: str = ""
    ) -> FunctionConfig:
        """`config` with its Layers resolved, or AWS's error for them (and for code plus
        layers past 250 MB; `unzipped_size` None: measure the stored code)."""
        if not config.layers:
            return dataclasses.replace(config, layer_refs=())
        if self.layers is None:
            raise InvalidParameterValue(f"Layer version {config.layers[0]} does not exist.")
        refs = await self.layers.resolve(config.layers)
        if unzipped_size is None:
            data = await run_sync(self.blobs.get, code_key)
            unzipped_size = (await run_sync(inspect_zip, data)).unzipped_size
        self.layers.check_total_size(unzipped_size, refs)
        return dataclasses.replace(config, layer_refs=refs)

    async def _accept_code(self, zip_file: bytes | None) -> CodePackage:
        """The checked package (stored by the caller once the whole request is valid)."""
        if zip_file is None:
            raise InvalidParameterValue("Please provide a source for function code.")
        return await run_sync(inspect_zip, zip_file)

    def _new_latest(
        self, name: str, config: FunctionConfig, code_key: str, code_size: int, now: float
    ) -> VersionRow:
        return VersionRow(
            function_name=name,
            version=LATEST,
            revision_id=str(uuid.uuid4()),
            code_sha256=code_key,
            code_size=code_size,
            config=with_lifecycle(config.to_json(), Lifecycle.creating()),
            last_modified=now,
        )

    def _changed(
        self, current: VersionRow, config: FunctionConfig, code: tuple[str, int] | None
    ) -> VersionRow:
        """`current` with `config` and, if given, new code: (its key, its size)."""
        lifecycle = read_lifecycle(current.config).updating()
        return dataclasses.replace(
            current,
            revision_id=str(uuid.uuid4()),
            code_sha256=code[0] if code else current.code_sha256,
            code_size=code[1] if code else current.code_size,
            config=with_lifecycle(config.to_json(), lifecycle),
            last_modified=time.time(),
        )

    async def _replace(self, row: VersionRow, expected_revision: str, conditional: bool) -> None:
        """Write `row` if $LATEST is unchanged since it was read.

        A lost race is the caller's precondition failing when they sent a
        RevisionId, else a concurrent update (AWS's ResourceConflictException).
        """
        if not await run_sync(self.functions.replace_version, row, expected_revision):
            raise self._lost_race(row.function_name, conditional)

    def _lost_race(self, name: str, conditional: bool) -> Exception:
        if conditional:
            return PreconditionFailed(REVISION_MISMATCH)
        return ResourceConflict(
            "The operation cannot be performed at this time. An update is in progress for "
            f"resource: {self.account.function_arn(name)}"
        )

    def _activate_later(self, row: VersionRow) -> None:
        async def activate() -> None:
            await self._activate(row)

        self._spawn(activate)

    async def _activate(self, row: VersionRow) -> None:
        """Unpack the code, then mark the version Active (or Failed) under a new RevisionId.

        While a version is being created or updated nothing else changes it
        (`_check_revision` refuses), so the row is re-read and swapped; if its
        code is no longer what was unpacked, a newer change activates it.
        """
        published = row.version != LATEST
        try:
            if row.config.get("package_type") == IMAGE:
                await self._image_ready(row)
            else:
                await run_sync(self.code_cache.ensure, row.code_sha256)
            for ref in FunctionConfig.from_json(row.config).layer_refs:
                await run_sync(self.code_cache.ensure, ref.code_key)  # ready for /opt
            failure = None
        except Exception as exc:
            log.exception("function %s: code could not be prepared", row.function_name)
            failure = str(exc)
        code = FAILED_CODE
        if failure is None and published and self.snapstart is not None:
            try:  # SnapStart: Init runs once, while the version is Pending
                await self.snapstart.prepare(self._version(row))
            except SnapStartFailed as exc:
                log.warning("function %s:%s: %s", row.function_name, row.version, exc.reason)
                failure, code = exc.reason, exc.code
        for _attempt in range(ACTIVATION_ATTEMPTS):
            current = await run_sync(self.functions.get_version, row.function_name, row.version)
            if current is None or current.code_sha256 != row.code_sha256:
                return
            lifecycle = read_lifecycle(current.config)
            if not lifecycle.busy:
                return
            lifecycle = (
                lifecycle.activated(published=published)
                if failure is None
                else lifecycle.failed(failure, published=published, code=code)
            )
            done = dataclasses.replace(
                current,
                revision_id=str(uuid.uuid4()),  # AWS: every state transition is a new revision
                config=with_lifecycle(current.config, lifecycle),
            )
            if await run_sync(self.functions.replace_version, done, current.revision_id):
                return

    async def _image_ready(self, row: VersionRow) -> None:
        """An Image version's image is unpacked here (it was when its code was set; a
        store that lost it since fails the version rather than its first invoke)."""
        digest = f"sha256:{row.code_sha256}"
        found = None if self.images is None else await run_sync(self.images.lookup, digest)
        if found is None:
            raise ImageNotFound(FunctionConfig.from_json(row.config).resolved_image_uri or digest)

    async def _publish_unless_published(
        self,
        name: str,
        latest: VersionRow,
        conditional: bool,
        description: str | None = None,
    ) -> VersionRow:
        """Publish $LATEST, or hand back the newest version if nothing changed since it."""
        versions = await run_sync(self.functions.list_versions, name)
        newest = next((r for r in reversed(versions) if r.version != LATEST), None)
        if newest is not None and same_snapshot(newest, latest):
            return newest
        return await self._publish(name, latest.revision_id, conditional, description)

    async def _publish(
        self,
        name: str,
        expected_revision: str,
        conditional: bool,
        description: str | None = None,
    ) -> VersionRow:
        latest = await self._latest_row(name)
        config = snapshot_config(latest.config, description)

        def build(number: int) -> VersionRow:
            return dataclasses.replace(
                latest,
                version=str(number),
                revision_id=str(uuid.uuid4()),
                config=config,
                last_modified=time.time(),
            )

        row = await run_sync(self.functions.publish_version, latest, expected_revision, build)
        if row is None:
            raise self._lost_race(name, conditional)
        self._activate_later(row)
        log.info("function %s: published version %s", name, row.version)
        return row

    async def _notify(self, name: str, version: str | None) -> None:
        for listener in self._listeners:
            await listener(name)
        for version_listener in self._version_listeners:
            await version_listener(self.account.function_arn(name), version)

    async def lose(self, name: str, version: str, reason: str, code: str) -> bool:
        """Mark a ready version Failed because something it runs went away (`code`: AWS's
        StateReasonCode, e.g. ImageDeleted); its warm environments are retired. False:
        the version is gone, or changed under us (a new code is then being readied)."""
        for _attempt in range(ACTIVATION_ATTEMPTS):
            current = await run_sync(self.functions.get_version, name, version)
            if current is None:
                return False
            lost = read_lifecycle(current.config).lost(reason, code)
            done = dataclasses.replace(
                current,
                revision_id=str(uuid.uuid4()),  # AWS: every state transition is a new revision
                config=with_lifecycle(current.config, lost),
            )
            if await run_sync(self.functions.replace_version, done, current.revision_id):
                log.warning("function %s:%s: %s (%s)", name, version, reason, code)
                await self._notify(name, version)
                return True
        return False

    async def notify_alias_change(self, name: str) -> None:
        """An alias of `name` changed: what its qualifiers resolve to may differ now."""
        for listener in self._listeners:
            await listener(name)

    async def notify_version_change(self, function_arn: str, version: str | None) -> None:
        """Tell the version listeners of a change made by another process (the
        primary's, over `workers.bus`): its environments go as if it were made here."""
        for version_listener in self._version_listeners:
            await version_listener(function_arn, version)

    def _version(self, row: VersionRow) -> Version:
        lifecycle = read_lifecycle(row.config)
        version = Version(
            function_name=row.function_name,
            version=row.version,
            function_arn=self.account.function_arn(row.function_name),
            config=FunctionConfig.from_json(row.config),
            code_sha256=row.code_sha256
            if row.config.get("package_type") == IMAGE
            else base64.b64encode(bytes.fromhex(row.code_sha256)).decode(),
            code_key=row.code_sha256,
            code_size=row.code_size,
            revision_id=row.revision_id,
            last_modified=row.last_modified,
            state=lifecycle.state,
            state_reason=lifecycle.state_reason,
            state_reason_code=lifecycle.state_reason_code,
            last_update_status=lifecycle.last_update_status,
            last_update_status_reason=lifecycle.last_update_status_reason,
            last_update_status_reason_code=lifecycle.last_update_status_reason_code,
        )
        if self.snapstart is not None and self.snapstart.serves(version):
            version = dataclasses.replace(version, optimization_status=OPTIMIZED)
        return version


def _with_default_logging(config: FunctionConfig, name: str) -> FunctionConfig:
    if config.logging is not None:
        return config
    return dataclasses.replace(config, logging=LoggingConfig(log_group=f"/aws/lambda/{name}"))
