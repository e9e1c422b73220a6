"""The environment of an invocation is released whatever fails after it is acquired."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest

from lambdad.catalog import Account, Catalog, Version
from lambdad.invoke.concurrency import ConcurrencyLimiter
from lambdad.invoke.invoker import Invoker
from lambdad.invoke.version_cache import Resolved
from lambdad.pool import EnvironmentPool, EnvState, ExecutionEnvironment
from lambdad.runtimes import InvokeOutcome, InvokeRequest
from lambdad.telemetry import FunctionLogs, LogFormatting
from lambdad.telemetry.log_format import TEXT
from support.catalog import make_version

pytestmark = pytest.mark.anyio

OK = InvokeOutcome(
    payload=b"{}",
    function_error=None,
    error_type=None,
    logs=b"",
    duration_ms=1.0,
    max_memory_used_mb=1,
    reusable=True,
)


class FakeEnvironment:
    init_duration_ms = 1.0
    from_snapshot = False
    phases = {"sandbox": 1.0}
    init_logs = b""
    init_error = None
    backend_name = "fake"

    def __init__(self, outcome: InvokeOutcome | Exception) -> None:
        self.outcome = outcome
        self.destroyed: str | None = None
        self.requests: list[InvokeRequest] = []

    async def invoke(
        self,
        request: InvokeRequest,
        timeout_s: float,
        output: object = None,
        response: object = None,
    ) -> InvokeOutcome:
        self.requests.append(request)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    async def freeze(self) -> None:
        pass

    async def destroy(self, reason: str) -> None:
        self.destroyed = reason


class FakeCatalog:
    def on_change(self, callback: Any) -> None:
        pass


class FailingStream:
    formatting = TEXT

    async def platform(self, *lines: str) -> None:
        raise OSError("log store is down")

    def tail(self) -> bytes:
        return b""


class QuietStream(FailingStream):
    async def platform(self, *lines: str) -> None:
        pass


class FailingLogs:
    def stream(self, group: str, stream: str, formatting: LogFormatting = TEXT) -> FailingStream:
        return FailingStream()

    def now_ms(self) -> int:
        return 0


class QuietLogs(FailingLogs):
    def stream(self, group: str, stream: str, formatting: LogFormatting = TEXT) -> QuietStream:
        return QuietStream()


def make_invoker(
    outcome: InvokeOutcome | Exception, logs: object
) -> tuple[Invoker, EnvironmentPool, FakeEnvironment, ConcurrencyLimiter]:
    environment = FakeEnvironment(outcome)

    async def start(version: Version, env_id: str, stream: str) -> ExecutionEnvironment:
        return cast(ExecutionEnvironment, environment)

    pool = EnvironmentPool(start, lambda v: f"stream-{v}", 60.0)
    limiter = ConcurrencyLimiter(10)
    invoker = Invoker(
        Account("us-east-1", "000000000000"),
        cast(Catalog, FakeCatalog()),
        pool,
        limiter,
        cast(FunctionLogs, logs),
    )
    return invoker, pool, environment, limiter


def states(pool: EnvironmentPool) -> list[EnvState]:
    return [lease.state for lease in pool._leases.values()]


async def test_a_failing_log_store_still_releases_the_environment() -> None:
    invoker, pool, environment, limiter = make_invoker(OK, FailingLogs())
    with pytest.raises(OSError):
        await invoker.invoke(Resolved(make_version(), None), b"{}")
    # The environment itself was fine: back in the pool, idle, and the slot is free.
    assert states(pool) == [EnvState.IDLE]
    assert environment.destroyed is None and limiter.total == 0


async def test_an_environment_that_raises_is_destroyed_not_left_busy() -> None:
    invoker, pool, environment, limiter = make_invoker(RuntimeError("broken"), QuietLogs())
    with pytest.raises(RuntimeError):
        await invoker.invoke(Resolved(make_version(), None), b"{}")
    assert states(pool) == [] and environment.destroyed == "poisoned"
    assert limiter.total == 0


async def test_a_normal_invocation_keeps_the_environment_warm() -> None:
    invoker, pool, environment, _ = make_invoker(OK, QuietLogs())
    result = await invoker.invoke(Resolved(make_version(), None), b"{}")
    assert result.payload == b"{}" and result.function_error is None
    assert states(pool) == [EnvState.IDLE] and environment.destroyed is None


class RecordingStream(QuietStream):
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def platform(self, *lines: str) -> None:
        self.lines += lines


class RecordingLogs(FailingLogs):
    def __init__(self) -> None:
        self.recorded = RecordingStream()
        self.lines = self.recorded.lines

    def stream(self, group: str, stream: str, formatting: LogFormatting = TEXT) -> RecordingStream:
        return self.recorded


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"x": ' + b"[" * 50_000 + b"]" * 50_000 + b', "errorMessage": "m"}',
        b'{"errorMessage": {"not": "a string"}}',
        b"\xff\xfe",
        b'{"errorMessage": "Error: ' + b"A" * 100_000 + b'"}',
    ],
    ids=["nested", "nested before the message", "message not a string", "not utf-8", "huge"],
)
async def test_a_runtime_typed_error_with_any_payload_is_logged(payload: bytes) -> None:
    """A function may post errors typed `Runtime.*` itself: its payload is untrusted."""
    outcome = dataclasses.replace(
        OK, payload=payload, function_error="Unhandled", error_type="Runtime.Evil"
    )
    logs = RecordingLogs()
    invoker, pool, _, _ = make_invoker(outcome, logs)
    result = await invoker.invoke(Resolved(make_version(), None), b"{}")
    assert result.payload == payload and result.function_error == "Unhandled"
    assert "Runtime.Evil" in logs.lines and max(len(line) for line in logs.lines) < 5000
    assert states(pool) == [EnvState.IDLE]
