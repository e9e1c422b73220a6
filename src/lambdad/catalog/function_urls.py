"""Function URL configs: an HTTP endpoint for a function or one of its aliases.

One config per function + qualifier (unqualified, i.e. `$LATEST`, or an
alias: never a version number, as AWS refuses). Each has a random 32-character
URL id that names it in the host (`<id>.lambda-url.<region>.localhost`) and
in the path-based fallback (`/lambda-url/<id>/`). The id lasts as long as the
config: Update changes AuthType, Cors and InvokeMode, never the URL.
"""

from __future__ import annotations

import logging
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from lambdad.catalog.constraints import Violations
from lambdad.catalog.markers import page_after, page_size
from lambdad.catalog.model import LATEST
from lambdad.catalog.names import Account
from lambdad.catalog.regional import Regional
from lambdad.catalog.service import Catalog
from lambdad.concurrency import run_sync
from lambdad.errors import ResourceConflict, ResourceNotFound
from lambdad.store.function_urls import FunctionUrlRow, FunctionUrlStore

log = logging.getLogger(__name__)

AUTH_TYPES = ("AWS_IAM", "NONE")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")
QUALIFIER_PATTERN = r"((?!^\d+$)^[0-9a-zA-Z-_]+$)"
HTTP_METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"})
URL_ID_ALPHABET = string.ascii_lowercase + string.digits
URL_ID_LENGTH = 32
MAX_LIST_ITEMS = 50

Clock = Callable[[], float]


@dataclass(frozen=True)
class Cors:
    allow_credentials: bool | None = None
    allow_headers: tuple[str, ...] | None = None
    allow_methods: tuple[str, ...] | None = None
    allow_origins: tuple[str, ...] | None = None
    expose_headers: tuple[str, ...] | None = None
    max_age: int | None = None


@dataclass(frozen=True)
class FunctionUrlConfig:
    function_name: str
    qualifier: str
    """`$LATEST` for a URL on the unqualified function, else an alias name."""
    url_id: str
    auth_type: str
    cors: Cors | None
    invoke_mode: str
    creation_time: float
    last_modified: float


@dataclass(frozen=True)
class FunctionUrlChanges:
    """What a Create/Update request sets; None where the request is silent."""

    auth_type: str | None = None
    cors: Cors | None = None
    invoke_mode: str | None = None


@dataclass(frozen=True)
class FunctionUrlPage:
    configs: list[FunctionUrlConfig]
    next_marker: str | None


class FunctionUrls(Regional):
    def __init__(
        self,
        account: Account,
        catalog: Catalog,
        store: FunctionUrlStore,
        clock: Clock = time.time,
    ) -> None:
        self.account = account
        self.catalog = catalog
        self.store = store
        self._clock = clock

    async def create(
        self, function_name: str, qualifier: str | None, changes: FunctionUrlChanges
    ) -> FunctionUrlConfig:
        if changes.auth_type is None:
            violations = Violations()
            violations.required(None, "authType")
            violations.raise_if_any()
        name, key = await self._target(function_name, qualifier, changes)
        now = self._clock()
        config = FunctionUrlConfig(
            function_name=name,
            qualifier=key,
            url_id=new_url_id(),
            auth_type=changes.auth_type or "NONE",
            cors=None if changes.cors is None else _none_if_empty(changes.cors),
            invoke_mode=changes.invoke_mode or "BUFFERED",
            creation_time=now,
            last_modified=now,
        )
        if not await run_sync(self.store.create, _row(config)):
            raise ResourceConflict(
                f"Failed to create function url config for [functionArn = "
                f"{self.function_arn(config)}]. Error message:  FunctionUrlConfig exists "
                "for this Lambda function"
            )
        log.info("function %s: URL %s created", self.function_arn(config), config.url_id)
        return config

    async def update(
        self, function_name: str, qualifier: str | None, changes: FunctionUrlChanges
    ) -> FunctionUrlConfig:
        name, key = await self._target(function_name, qualifier, changes)
        current = await run_sync(self.store.get, name, key)
        if current is None:
            raise _missing()
        config = _config(current)
        config = replace(
            config,
            auth_type=changes.auth_type or config.auth_type,
            cors=config.cors if changes.cors is None else _none_if_empty(changes.cors),
            invoke_mode=changes.invoke_mode or config.invoke_mode,
            last_modified=self._clock(),
        )
        if not await run_sync(self.store.replace, _row(config)):
            raise _missing()  # deleted meanwhile
        return config

    async def get(self, function_name: str, qualifier: str | None) -> FunctionUrlConfig:
        name, key = await self._target(function_name, qualifier)
        row = await run_sync(self.store.get, name, key)
        if row is None:
            raise _missing()
        return _config(row)

    async def delete(self, function_name: str, qualifier: str | None) -> None:
        name, key = await self._target(function_name, qualifier)
        if not await run_sync(self.store.delete, name, key):
            raise _missing()
        log.info("function %s: URL deleted", self.account.function_arn(name, qualifier))

    async def list(
        self, function_name: str, marker: str | None, max_items: int | None
    ) -> FunctionUrlPage:
        ref = self.account.parse_function_name(function_name)
        limit = page_size(max_items, MAX_LIST_ITEMS)
        await self.catalog.get_function(ref.name)
        rows = await run_sync(self.store.list, ref.name)
        page, next_marker = page_after(rows, lambda r: r.qualifier, marker, limit)
        return FunctionUrlPage([_config(r) for r in page], next_marker)

    async def by_url_id(self, url_id: str) -> FunctionUrlConfig | None:
        """The config a URL request names, or None (the front answers 404)."""
        if len(url_id) != URL_ID_LENGTH or not url_id.isalnum():
            return None
        row = await run_sync(self.store.by_url_id, url_id.lower())
        return None if row is None else _config(row)

    async def region_of(self, url_id: str) -> str | None:
        """The region of the URL with this id, whichever it is (path-based URLs)."""
        if len(url_id) != URL_ID_LENGTH or not url_id.isalnum():
            return None
        return await run_sync(self.store.region_of, url_id.lower())

    def function_arn(self, config: FunctionUrlConfig) -> str:
        """The ARN AWS shows: unqualified for the function's own URL, else the alias's."""
        qualifier = None if config.qualifier == LATEST else config.qualifier
        return self.account.function_arn(config.function_name, qualifier)

    # -- the steps ---------------------------------------------------------

    async def _target(
        self,
        function_name: str,
        qualifier: str | None,
        changes: FunctionUrlChanges | None = None,
    ) -> tuple[str, str]:
        """The function + qualifier a request names (checked as AWS does), which must exist."""
        violations = Violations()
        if qualifier is not None:
            violations.string(qualifier, "qualifier", 1, 128, QUALIFIER_PATTERN)
        if changes is not None:
            _check_changes(changes, violations)
        violations.raise_if_any()
        ref = self.account.resolve(function_name, qualifier)
        if qualifier is None and ref.qualifier is not None:
            # A qualified ARN as FunctionName: the same rule as ?Qualifier=.
            check = Violations()
            check.string(ref.qualifier, "qualifier", 1, 128, QUALIFIER_PATTERN)
            check.raise_if_any()
        await self.catalog.resolve(ref)  # the function, or its alias, must exist
        return ref.name, ref.qualifier or LATEST


def new_url_id() -> str:
    return "".join(secrets.choice(URL_ID_ALPHABET) for _ in range(URL_ID_LENGTH))


def _check_changes(changes: FunctionUrlChanges, violations: Violations) -> None:
    if changes.auth_type is not None and changes.auth_type not in AUTH_TYPES:
        violations.add(
            changes.auth_type, "authType", "Member must satisfy enum value set: [AWS_IAM, NONE]"
        )
    if changes.invoke_mode is not None and changes.invoke_mode not in INVOKE_MODES:
        violations.add(
            changes.invoke_mode,
            "invokeMode",
            "Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]",
        )
    if changes.cors is not None:
        _check_cors(changes.cors, violations)
    violations.raise_if_any()


def _check_cors(cors: Cors, violations: Violations) -> None:
    lists: list[tuple[tuple[str, ...] | None, str, int, int, int]] = [
        (cors.allow_headers, "cors.allowHeaders", 100, 0, 1024),
        (cors.allow_methods, "cors.allowMethods", 6, 0, 6),
        (cors.allow_origins, "cors.allowOrigins", 100, 1, 253),
        (cors.expose_headers, "cors.exposeHeaders", 100, 0, 1024),
    ]
    for values, member, most, low, high in lists:
        if values is None:
            continue
        if len(values) > most:
            violations.add(
                list(values), member, f"Member must have length less than or equal to {most}"
            )
            continue
        for value in values:
            violations.length(value, f"{member}.member", low, high)
    if cors.max_age is not None and not 0 <= cors.max_age <= 86400:
        rule = "greater than or equal to 0" if cors.max_age < 0 else "less than or equal to 86400"
        violations.add(cors.max_age, "cors.maxAge", f"Member must have value {rule}")
    for method in cors.allow_methods or ():
        if method.upper() not in HTTP_METHODS:
            violations.add(method, "cors.allowMethods.member", "Member must be an HTTP method")


def _missing() -> ResourceNotFound:
    return ResourceNotFound("The resource you requested does not exist.")


def _none_if_empty(cors: Cors) -> Cors | None:
    return None if cors == Cors() else cors


def _row(config: FunctionUrlConfig) -> FunctionUrlRow:
    cors: dict[str, Any] | None = None
    if config.cors is not None:
        cors = {k: list(v) if isinstance(v, tuple) else v for k, v in config.cors.__dict__.items()}
    return FunctionUrlRow(**{**config.__dict__, "cors": cors})


def _config(row: FunctionUrlRow) -> FunctionUrlConfig:
    cors = None
    if row.cors is not None:
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in row.cors.items()
        }
        cors = Cors(**values)
    return FunctionUrlConfig(**{**row.__dict__, "cors": cors})
