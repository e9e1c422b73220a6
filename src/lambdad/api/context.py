"""What every handler needs, wired once by `server.build_app` (no globals)."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from lambdad.api.code_links import CodeLinks
from lambdad.api.regions import request_region
from lambdad.catalog import (
    Account,
    Catalog,
    ConcurrencyCatalog,
    EventInvokeConfigs,
    FunctionRef,
    FunctionUrls,
    Policies,
    S3CodeFetcher,
)
from lambdad.events import EventRules
from lambdad.iam import CredentialResolvers, Users
from lambdad.invoke import AsyncQueue, Invoker
from lambdad.pool import Provisioner
from lambdad.settings import Settings
from lambdad.telemetry import FunctionLogs


@dataclass
class ApiContext:
    settings: Settings
    account: Account
    catalog: Catalog
    code_links: CodeLinks
    invoker: Invoker
    async_queue: AsyncQueue
    logs: FunctionLogs
    event_invoke_configs: EventInvokeConfigs
    function_urls: FunctionUrls
    policies: Policies
    concurrency: ConcurrencyCatalog
    provisioner: Provisioner
    users: Users
    credentials: CredentialResolvers
    """Where SigV4 verification finds an access key's secret (users' keys, role sessions)."""
    event_rules: EventRules
    s3_code: S3CodeFetcher = field(default_factory=lambda: S3CodeFetcher(None))
    """Reads code named by S3Bucket/S3Key from the operator's S3 endpoint."""
    _regions: dict[str, ApiContext] = field(default_factory=dict, repr=False)

    @property
    def region(self) -> str:
        return self.account.region

    @staticmethod
    def of(request: Request) -> ApiContext:
        """The context of the request's region (its SigV4 credential scope's)."""
        ctx: ApiContext = request.app.state.lambdad
        return ctx.in_region(request_region(request, ctx.settings.region))

    def in_region(self, region: str) -> ApiContext:
        """This context for `region`: its account, catalog and invoker, and every other
        part that holds an `account` or a `catalog` rebound to them (a shallow copy)."""
        if region == self.account.region:
            return self
        found = self._regions.get(region)
        if found is None:
            account = dataclasses.replace(self.account, region=region)
            catalog = self.catalog.in_region(region)
            parts = {
                f.name: _rebound(getattr(self, f.name), account, catalog)
                for f in dataclasses.fields(self)
                if f.name not in ("settings", "account", "catalog", "invoker", "_regions")
            }
            found = dataclasses.replace(
                self,
                account=account,
                catalog=catalog,
                invoker=self.invoker.in_region(region),
                **parts,
            )
            self._regions[region] = found
        return found

    def resolve(self, request: Request) -> FunctionRef:
        """The path's FunctionName with the optional ?Qualifier= reconciled."""
        return self.account.resolve(
            request.path_params["FunctionName"], request.query_params.get("Qualifier")
        )


def _rebound(part: Any, account: Account, catalog: Catalog) -> Any:
    """`part` with its `account` / `catalog` (if it has them) those of another region."""
    names = [n for n in ("account", "catalog") if hasattr(part, n)]
    if not names:
        return part
    clone = copy.copy(part)
    for name in names:
        setattr(clone, name, account if name == "account" else catalog)
    return clone
