"""What every handler needs, wired once by `server.build_app` (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from lambdad.api.code_links import CodeLinks
from lambdad.catalog import (
    Account,
    Catalog,
    ConcurrencyCatalog,
    EventInvokeConfigs,
    FunctionRef,
    FunctionUrls,
    Policies,
)
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

    @property
    def region(self) -> str:
        return self.account.region

    @staticmethod
    def of(request: Request) -> ApiContext:
        ctx: ApiContext = request.app.state.lambdad
        return ctx

    def resolve(self, request: Request) -> FunctionRef:
        """The path's FunctionName with the optional ?Qualifier= reconciled."""
        return self.account.resolve(
            request.path_params["FunctionName"], request.query_params.get("Qualifier")
        )
