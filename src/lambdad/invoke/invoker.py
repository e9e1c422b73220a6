"""One synchronous invocation end to end: resolve, admit, run, log, release.

resolve qualifier -> version (Active)
admit (concurrency) -> acquire environment (warm or cold)
run with the function's timeout -> write START / output / END / REPORT
release the environment (reused, or destroyed when poisoned)
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable

import anyio
import msgspec

from lambdad.catalog import (
    Account,
    Catalog,
    ConcurrencyCatalog,
    FunctionState,
    LastUpdateStatus,
    Version,
)
from lambdad.errors import RecursiveInvocation, ResourceConflict, Throttled
from lambdad.invoke import recursion
from lambdad.invoke.concurrency import Admission, ConcurrencyLimiter
from lambdad.invoke.requests import InvokeResult, new_trace_id, new_trace_root
from lambdad.invoke.version_cache import Resolved, VersionCache
from lambdad.pool import EnvironmentPool, Lease
from lambdad.runtimes import MAX_STREAMED_RESPONSE, InvokeOutcome, InvokeRequest, ResponseStream
from lambdad.telemetry import (
    FunctionLogs,
    InvocationTrace,
    LogFormatting,
    MetricsRecorder,
    Report,
    StreamLog,
    Tracing,
)
from lambdad.telemetry.xray_ids import complete_header

log = logging.getLogger(__name__)

# How long an invoke waits for a version being created or updated (its code being unpacked).
UPDATE_WAIT_S = 30.0
# A response kept whole (Invoke): Lambda's 6 MB, counted as AWS counts it.
MAX_SYNC_RESPONSE = 6291556
# The longest error message a platform log line repeats.
MAX_DETAIL = 4096
UsageSink = Callable[[str, Version, int, bool, bool], None]
"""Told (region, version, billed ms, on provisioned concurrency, restored from a SnapStart
snapshot for it) of every invocation's REPORT (`cost.UsageRecorder.record`: it only
buffers)."""


class Invoker:
    def __init__(
        self,
        account: Account,
        catalog: Catalog,
        pool: EnvironmentPool,
        limiter: ConcurrencyLimiter,
        logs: FunctionLogs,
        concurrency: ConcurrencyCatalog | None = None,
        max_streamed_response: int = MAX_STREAMED_RESPONSE,
        metrics: MetricsRecorder | None = None,
        usage: UsageSink | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.account = account
        self.metrics = metrics or MetricsRecorder()
        self.usage = usage
        self.tracing = tracing or Tracing()
        self.max_streamed_response = max_streamed_response
        self.catalog = catalog
        self.pool = pool
        self.limiter = limiter
        self.logs = logs
        self.versions = VersionCache(catalog, concurrency=concurrency)
        catalog.on_change(self.versions.forget)
        if concurrency is not None:
            concurrency.on_change(self.versions.forget)
        self._regions: dict[str, Invoker] = {account.region: self}

    def in_region(self, region: str) -> Invoker:
        """The invoker of `region`'s functions: the same pool and logs, the region's own
        version cache and concurrency limits (AWS's account limit is per region)."""
        found = self._regions.get(region)
        if found is None:
            found = copy.copy(self)
            found.account = dataclasses.replace(self.account, region=region)
            found.catalog = self.catalog.in_region(region)
            found.limiter = self.limiter.in_region(region)
            found.logs = self.logs.in_region(region)
            concurrency = self.versions.concurrency
            if concurrency is not None:
                concurrency = concurrency.in_region(region)
            found.versions = VersionCache(found.catalog, concurrency=concurrency)
            # The catalogs of all regions share their listeners: a change of a name in
            # any region drops that name here too, which costs a re-read at most.
            found.catalog.on_change(found.versions.forget)
            if concurrency is not None:
                concurrency.on_change(found.versions.forget)
            self._regions[region] = found
        return found

    def regions(self) -> dict[str, Invoker]:
        """The invokers of every region used so far, by region."""
        return dict(self._regions)

    async def resolve(self, function_name: str, qualifier: str | None) -> Resolved:
        """The version an invoke runs, once it is ready to run."""
        ref = self.account.resolve(function_name, qualifier)
        deadline = time.monotonic() + UPDATE_WAIT_S
        while True:
            resolved = await self.versions.get(ref)
            version = resolved.version
            pending = version.state is FunctionState.PENDING
            if pending and time.monotonic() > deadline:
                raise ResourceConflict(
                    "The operation cannot be performed at this time. The function is currently "
                    "in the following state: Pending"
                )
            if version.state is FunctionState.FAILED:
                raise ResourceConflict(
                    "The operation cannot be performed at this time. The function is currently "
                    f"in the following state: Failed. {version.state_reason or ''}".rstrip()
                )
            # A version being created (a new function, a just published version) or
            # updated is waited for a while: its code is being unpacked, which takes
            # moments here. Past the wait, Pending is AWS's conflict.
            if not pending and version.last_update_status is not LastUpdateStatus.IN_PROGRESS:
                return resolved
            if not pending and time.monotonic() > deadline:
                return resolved
            await anyio.sleep(0.02)

    async def invoke(
        self,
        target: Resolved,
        payload: bytes,
        *,
        client_context: str | None = None,
        want_log_tail: bool = False,
        trace_id: str | None = None,
        request_id: str | None = None,
        response: ResponseStream | None = None,
        queued_at: float | None = None,
    ) -> InvokeResult:
        """Run one invocation. With `response`, a response the function streams goes
        there as it comes (the result then has `streamed=True` and no payload unless
        the stream ended with an error); without, it is kept whole (6 MB at most).
        `queued_at`: when an async event was queued (its trace shows the wait)."""
        request_id = request_id or str(uuid.uuid4())
        version = target.version
        started = time.time()
        if not trace_id:
            # A new trace: sampled later under Active tracing; else not sampled, so
            # complete already (`complete_header` then has nothing to add).
            active = version.config.tracing_mode == "Active"
            trace_id = new_trace_root() if active else new_trace_id()
        trace_id, depth = self._check_recursion(target, trace_id, request_id)
        region, name = self.account.region, version.function_name
        traced = self.tracing.start(
            version.config.tracing_mode,
            trace_id,
            function_name=name,
            function_arn=version.function_arn,
            region=region,
            request_id=request_id,
            started=started,
        )
        if traced is not None and queued_at is not None:
            traced.queued(queued_at)
        try:
            result = await self._invoke(
                target,
                payload,
                request_id,
                # Untraced, the function gets the header in AWS's format as it is.
                trace_id=complete_header(trace_id) if traced is None else "",
                traced=traced,
                client_context=client_context,
                want_log_tail=want_log_tail,
                response=response,
                # A function's invocation in its own chain of events (it invoked itself,
                # or one it invoked did) may be what its busy environments wait for:
                # it never waits in line for them.
                may_queue=depth <= 1,
            )
        except BaseException as exc:
            if traced is not None:
                self.tracing.finished(traced, traced.end(type(exc).__name__))
            raise
        if traced is not None:
            error = result.function_error is not None
            self.tracing.finished(traced, traced.end(result.error_type, function_error=error))
        return result

    async def _invoke(
        self,
        target: Resolved,
        payload: bytes,
        request_id: str,
        *,
        trace_id: str,
        traced: InvocationTrace | None,
        client_context: str | None,
        want_log_tail: bool,
        response: ResponseStream | None,
        may_queue: bool = True,
    ) -> InvokeResult:
        """Admitted, an environment acquired, run, logged, released. The function
        runs with `trace_id`, or when `traced`, with the header of its Invoke span;
        `may_queue`: it may wait for a busy environment (`pool/queueing.py`)."""
        version = target.version
        region, name = self.account.region, version.function_name
        try:
            admission = self.limiter.admit(name, target.reserved_concurrency, target.provisioned)
        except Throttled:
            self.metrics.throttle(region, name, target.qualifier)
            raise
        try:
            self._record_admission(target, admission)
            lease = await self.pool.acquire(
                version, provisioned_for=admission.provisioned, may_queue=may_queue
            )
            if lease.cold:
                self.metrics.cold_start(region, name, lease.environment.phases)
                if traced is not None:
                    traced.cold_start(time.time(), lease.environment.phases)
            if traced is not None:
                trace_id = traced.invoking()
            formatting = LogFormatting.of(version.config.logging)
            stream = self.logs.stream(version.log_group, lease.log_stream, formatting)
            reusable = True  # untouched so far
            try:
                now_ms = self.logs.now_ms()
                await stream.platform(*formatting.start(request_id, version.version, now_ms))
                reusable = False  # until the invocation ran to an outcome that says so
                outcome = await self._run(
                    lease, target, payload, request_id, client_context, trace_id, stream, response
                )
                reusable = outcome.reusable and lease.environment.init_error is None
                self.metrics.invocation(
                    region,
                    name,
                    target.qualifier,
                    version.version,
                    outcome.duration_ms,
                    outcome.function_error is not None,
                )
                await self._log(lease, version, request_id, outcome, stream)
            finally:
                # Whatever failed above (or a cancelled request), the environment goes
                # back to the pool or is destroyed: never left busy forever.
                if not self.pool.release_nowait(lease, reusable):
                    with anyio.CancelScope(shield=True):
                        await self.pool.release(lease, reusable)
        finally:
            self.limiter.release(admission)
        return InvokeResult(
            payload=outcome.payload,
            function_error=outcome.function_error,
            executed_version=version.version,
            log_tail=stream.tail() if want_log_tail else None,
            request_id=request_id,
            streamed=outcome.streamed,
            error_type=outcome.error_type,
        )

    def _record_admission(self, target: Resolved, admission: Admission) -> None:
        limiter, name = self.limiter, target.version.function_name
        region = self.account.region
        self.metrics.concurrency(
            region, name, limiter.in_flight(name), limiter.total, limiter.unreserved_in_flight
        )
        provisioned = target.provisioned
        if admission.provisioned is not None and provisioned is not None:
            in_use = limiter.provisioned_in_flight(name, admission.provisioned)
            self.metrics.provisioned(region, name, admission.provisioned, in_use, provisioned.count)

    def _check_recursion(self, target: Resolved, trace_id: str, request_id: str) -> tuple[str, int]:
        """The trace header the function runs with and how many times this chain of
        events has run the function (1: the first), or RecursiveInvocation past the limit."""
        version = target.version
        trace_id, depth = recursion.next_hop(trace_id, version.function_arn)
        if depth > recursion.MAX_DEPTH and target.recursive_loop != "Allow":
            # AWS's notification (AWS_LAMBDA_RUNAWAY_TERMINATION_NOTIFICATION), as one line.
            log.warning(
                "function %s: Lambda has detected that the function is being invoked in a "
                "recursive loop and has stopped the recursive invocation %s after %d calls "
                "(RecursiveInvocationsDropped)",
                version.function_name,
                request_id,
                recursion.MAX_DEPTH,
            )
            raise RecursiveInvocation(recursion.STOPPED)
        return trace_id, depth

    async def _run(
        self,
        lease: Lease,
        target: Resolved,
        payload: bytes,
        request_id: str,
        client_context: str | None,
        trace_id: str,
        stream: StreamLog,
        response: ResponseStream | None,
    ) -> InvokeOutcome:
        environment = lease.environment
        if environment.init_error is not None:
            return environment.init_error
        version = target.version
        timeout = version.config.timeout
        request = InvokeRequest(
            request_id=request_id,
            payload=payload,
            deadline_ms=int((time.time() + timeout) * 1000),
            # The ARN as invoked: unqualified, or with the qualifier given (an alias, $LATEST).
            invoked_function_arn=target.invoked_arn
            or self.account.function_arn(version.function_name, target.qualifier),
            trace_id=trace_id,
            client_context=client_context,
            cognito_identity=None,
            stream_limit=MAX_SYNC_RESPONSE if response is None else self.max_streamed_response,
        )
        return await environment.invoke(
            request, timeout_s=float(timeout), output=stream, response=response
        )

    async def _log(
        self,
        lease: Lease,
        version: Version,
        request_id: str,
        outcome: InvokeOutcome,
        stream: StreamLog,
    ) -> None:
        """Write the end of this invocation's log (its START and output are written)."""
        env = lease.environment
        restored = lease.cold and env.from_snapshot
        report = Report(
            request_id=request_id,
            duration_ms=outcome.duration_ms,
            memory_size_mb=version.config.memory_size,
            max_memory_used_mb=outcome.max_memory_used_mb,
            init_duration_ms=env.init_duration_ms if lease.cold and not restored else None,
            restore_duration_ms=env.init_duration_ms if restored else None,
            restore_billed_ms=env.restore_billed_ms if restored else None,
        )
        errors: list[str] = []
        if outcome.error_type and outcome.error_type.startswith(("Sandbox.", "Runtime.")):
            errors = _platform_error_lines(request_id, outcome)
        lines = stream.formatting.end(
            report, _status(outcome), outcome.error_type, errors, self.logs.now_ms()
        )
        await stream.platform(*lines)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("invoke %s: %s", request_id, report.line())
        if self.usage is not None:
            provisioned = lease.provisioned_for is not None
            billed = report.billed_duration_ms
            self.usage(self.account.region, version, billed, provisioned, restored)


def _status(outcome: InvokeOutcome) -> str:
    """The Telemetry API's status of an invocation (platform.report's in JSON logs)."""
    if outcome.error_type is None and outcome.function_error is None:
        return "success"
    if outcome.error_type == "Sandbox.Timedout":
        return "timeout"
    if outcome.error_type and outcome.error_type.startswith(("Sandbox.", "Runtime.")):
        return "failure"
    return "error"


class _ErrorBody(msgspec.Struct, rename="camel"):
    error_message: str = ""


def _platform_error_lines(request_id: str, outcome: InvokeOutcome) -> list[str]:
    """What Lambda itself logs when it ends an invocation (timeout, crash, OOM).

    A function may post errors of these types itself, so the payload may be any
    bytes: decoded into one bounded string, or none."""
    try:
        message = msgspec.json.decode(outcome.payload, type=_ErrorBody).error_message
    except (msgspec.DecodeError, RecursionError):  # msgspec skips unknown values recursively
        message = ""
    detail = message.split("Error: ", 1)[-1][:MAX_DETAIL] or str(outcome.error_type)
    if outcome.error_type == "Sandbox.Timedout":
        now = time.time()
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        )
        return [f"{stamp} {request_id} {detail}"]
    return [f"RequestId: {request_id} Error: {detail}", str(outcome.error_type)]
