"""The trace header a function runs with when its caller sent none: a new trace with
its Lineage, not sampled (Sampled=0) unless the function traces Active."""

from __future__ import annotations

import re
from typing import cast

import pytest

from lambdad.catalog import Account, Catalog, FunctionConfig, Version
from lambdad.invoke import recursion
from lambdad.invoke.concurrency import ConcurrencyLimiter
from lambdad.invoke.invoker import Invoker
from lambdad.invoke.version_cache import Resolved
from lambdad.pool import EnvironmentPool, ExecutionEnvironment
from lambdad.telemetry import FunctionLogs
from support.catalog import make_version
from unit.invoke.test_invoker_release import OK, FakeCatalog, FakeEnvironment, QuietLogs

pytestmark = pytest.mark.anyio


async def header_seen(version: Version, trace_id: str | None = None) -> str:
    environment = FakeEnvironment(OK)

    async def start(v: Version, env_id: str, stream: str) -> ExecutionEnvironment:
        return cast(ExecutionEnvironment, environment)

    invoker = Invoker(
        Account("us-east-1", "000000000000"),
        cast(Catalog, FakeCatalog()),
        EnvironmentPool(start, lambda v: f"stream-{v}", 60.0),
        ConcurrencyLimiter(10),
        cast(FunctionLogs, QuietLogs()),
    )
    await invoker.invoke(Resolved(version, None), b"{}", trace_id=trace_id)
    return environment.requests[0].trace_id


async def test_a_new_trace_is_complete_and_not_sampled() -> None:
    version = make_version()
    key = recursion.function_key(version.function_arn)
    header = await header_seen(version)
    assert re.fullmatch(
        rf"Root=1-[0-9a-f]{{8}}-[0-9a-f]{{24}};Parent=[0-9a-f]{{16}};Sampled=0;Lineage={key}:1",
        header,
    )
    assert await header_seen(version, trace_id="") != header  # a new one each time


async def test_a_new_trace_of_an_active_function_is_sampled() -> None:
    config = FunctionConfig(
        runtime="python3.12", handler="app.handler", role="r", tracing_mode="Active"
    )
    version = make_version(config=config)
    key = recursion.function_key(version.function_arn)
    header = await header_seen(version)
    assert re.fullmatch(
        rf"Root=1-[0-9a-f]{{8}}-[0-9a-f]{{24}};Parent=[0-9a-f]{{16}};Sampled=1;Lineage={key}:1",
        header,
    )


async def test_a_callers_header_is_completed_and_its_lineage_bumped() -> None:
    version = make_version()
    key = recursion.function_key(version.function_arn)
    root = "Root=1-5759e988-bd862e3fe1be46a994272793"
    header = await header_seen(version, trace_id=f"{root};Lineage={key}:3")
    assert re.fullmatch(rf"{root};Parent=[0-9a-f]{{16}};Sampled=0;Lineage={key}:4", header)
