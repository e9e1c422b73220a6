"""What every handler needs, wired once by `server.build_app` (no globals)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache

from prometheus_client import CollectorRegistry
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
from lambdad.catalog.regional import is_regional
from lambdad.cost import CostExplorer
from lambdad.events import EventRules, Scheduler
from lambdad.iam import CredentialResolvers, Users
from lambdad.iam.authorizer import Authorizer
from lambdad.images import ImageService
from lambdad.invoke import AsyncQueue, Invoker
from lambdad.pool import Provisioner
from lambdad.settings import Settings
from lambdad.telemetry import FunctionLogs, MetricsRecorder, Tracing
from lambdad.telemetry.prometheus import new_registry

_SCOPE_KEY = "lambdad.api_context"


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
    scheduler: Scheduler
    authorizer: Authorizer
    s3_code: S3CodeFetcher = field(default_factory=lambda: S3CodeFetcher(None))
    """Reads code named by S3Bucket/S3Key from the operator's S3 endpoint."""
    images: ImageService | None = None
    """Container images: imported archives and the operator's registries."""
    metrics: MetricsRecorder = field(default_factory=MetricsRecorder)
    """The recorder the invoker and the async queue record into (all regions)."""
    metrics_registry: CollectorRegistry = field(
        default_factory=lambda: new_registry(MetricsRecorder())
    )
    """What `/metrics` exposes (the recorder's collector and the live gauges)."""
    cost_explorer: CostExplorer | None = None
    """What the workload would cost on AWS (Cost Explorer's API)."""
    tracing: Tracing = field(default_factory=Tracing)
    """Traced invocations' spans and the recent traces kept (the X-Ray API reads them)."""
    _regions: dict[str, ApiContext] = field(default_factory=dict, repr=False)

    @property
    def region(self) -> str:
        return self.account.region

    @staticmethod
    def of(request: Request) -> ApiContext:
        """The context of the request's region (its SigV4 credential scope's)."""
        ctx: ApiContext = request.app.state.lambdad
        # Several steps of one request ask (authorization, the handler): the answer
        # is kept on the request, for the app's context it was worked out from.
        known = request.scope.get(_SCOPE_KEY)
        if known is not None and known[0] is ctx:
            found: ApiContext = known[1]
            return found
        found = ctx.in_region(request_region(request, ctx.settings.region))
        request.scope[_SCOPE_KEY] = (ctx, found)
        return found

    def in_region(self, region: str) -> ApiContext:
        """This context for `region`: its account, and every part that is regional
        (has `in_region`: the catalog, the invoker, the catalog services) that region's;
        the rest (settings, the async queue, the provisioner) is the server's."""
        if region == self.account.region:
            return self
        found = self._regions.get(region)
        if found is None:
            parts = {
                f.name: getattr(self, f.name).in_region(region)
                for f in dataclasses.fields(self)
                if f.name != "_regions" and is_regional(getattr(self, f.name))
            }
            account = dataclasses.replace(self.account, region=region)
            found = dataclasses.replace(self, account=account, **parts)
            self._regions[region] = found
        return found

    def resolve(self, request: Request) -> FunctionRef:
        """The path's FunctionName with the optional ?Qualifier= reconciled."""
        query = request.scope.get("query_string")
        qualifier = request.query_params.get("Qualifier") if query else None
        return _resolved(self.account, request.path_params["FunctionName"], qualifier)


# The same few names are invoked over and over; a name AWS refuses raises and is
# not remembered (Account.resolve is a pure function of its arguments).
@lru_cache(maxsize=1024)
def _resolved(account: Account, name: str, qualifier: str | None) -> FunctionRef:
    return account.resolve(name, qualifier)
