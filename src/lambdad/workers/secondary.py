"""A secondary server process's part of the object graph, and the app it serves.

A secondary (started as `python -m lambdad.workers ...`, see `__main__.py`) wires
the same object graph as the primary (`server.build_app` with a
`SecondaryRole`): its own sandbox state dir, cgroup parent, code and work dirs
under `<data dir>/workers/WORKER`, its own pool, templates, ready environments and
writers (logs, metrics, usage, traces), and none of the control plane's loops
(async queue, ticker, schedules, provisioner, log sweeper). It serves the
connections the primary accepted and handed it (`handoff.py`), and of their
requests only what `gate.py` keeps local; every other request goes to the
primary (`forward.py`). Catalog changes
come over the change bus (`bus.py`), which it joins before it reads anything.

It ends when the change bus closes (the primary is gone), besides the ends
`__main__.py` watches for.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from lambdad.api import ApiContext, create_app
from lambdad.catalog import Catalog, ConcurrencyCatalog
from lambdad.concurrency import run_sync
from lambdad.iam import CredentialResolvers
from lambdad.iam.role_sessions import RoleSessions
from lambdad.invoke import Invoker
from lambdad.invoke.requests import InvokeResult
from lambdad.invoke.version_cache import Resolved
from lambdad.telemetry import FunctionLogs
from lambdad.telemetry.prometheus import LambdaCollector
from lambdad.workers.bus import BusClient, Event
from lambdad.workers.forward import Forwarder, ForwardOnGate, forward_now
from lambdad.workers.gate import Gate, serves_locally
from lambdad.workers.live_tail_relay import LiveTailPublisher
from lambdad.workers.metrics import SecondaryMetrics
from lambdad.workers.sessions import ForwardUnknownSessions, session_answer
from lambdad.workers.shared_limits import SharedCounters, SharedCountersHandle
from lambdad.workers.supervisor import RunDir

log = logging.getLogger(__name__)

FLUSH_WAIT_MAX_S = 3.0
"""How long a flush the primary asked for may take (below the bus's ack timeout)."""


@dataclass
class SecondaryRole:
    """What makes `build_app` wire a secondary (see the module doc)."""

    worker: int
    run_dir: RunDir
    counters: SharedCountersHandle
    primary_pid: int
    on_primary_gone: Callable[[], None] = field(default=lambda: None)

    def stopped(self) -> None:
        """At the end of its stop: a primary that died (kill -9) left its run dir."""
        if os.getppid() != self.primary_pid:
            shutil.rmtree(self.run_dir.path, ignore_errors=True)


class GatedInvoker(Invoker):
    """A secondary's invoker: a target the gate does not keep here is forwarded
    (`ForwardToPrimary`) before anything is admitted or acquired."""

    gate: Gate

    async def invoke(self, target: Resolved, payload: bytes, **kwargs: Any) -> InvokeResult:
        await self.gate.check(self.account.region, target)
        return await super().invoke(target, payload, **kwargs)


class SecondaryFront:
    """ASGI app: the local Invoke path (`local`: the API app, its guard wrapped in
    `ForwardOnGate`) for what `serves_locally`, the primary for everything else
    (before anything is read or checked)."""

    def __init__(self, local: ASGIApp, forwarder: Forwarder) -> None:
        self.local = local
        self.forwarder = forwarder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not serves_locally(scope):
            await self.forwarder(scope, receive, send)
            return
        await self.local(scope, receive, send)


def change_applier(
    catalog: Catalog,
    concurrency: ConcurrencyCatalog,
    sessions: RoleSessions,
    logs: FunctionLogs,
    metrics: SecondaryMetrics,
) -> Callable[[Event], Any]:
    """The bus's events, told to this process's own listeners as the primary's heard
    them; the primary's questions, answered; its flushes, done."""

    async def apply(event: Event) -> Any:
        try:
            kind = event.get("kind")
            if kind == "session":
                return session_answer(sessions, event)
            if kind == "metrics":
                return await run_sync(metrics.answer)
            if kind == "flush":
                # Bounded: a store that is slow now (retrying) must not hold up the
                # changes behind it on the bus; what it holds is stored later.
                with anyio.move_on_after(FLUSH_WAIT_MAX_S):
                    await (metrics.flush() if event.get("what") == "metrics" else logs.flush())
                return None
            if kind == "function":
                await catalog.notify_alias_change(str(event["name"]))
            elif kind == "version":
                await catalog.notify_version_change(str(event["arn"]), event.get("version"))
            elif kind == "concurrency":
                await concurrency.notify(str(event["name"]))
        except Exception:
            log.exception("worker: a change could not be applied: %s", event)
        return None

    return apply


def bus_client(
    role: SecondaryRole,
    catalog: Catalog,
    concurrency: ConcurrencyCatalog,
    sessions: RoleSessions,
    logs: FunctionLogs,
    metrics: LambdaCollector,
) -> BusClient:
    answers = SecondaryMetrics(role.worker, os.getpid(), metrics)
    apply = change_applier(catalog, concurrency, sessions, logs, answers)
    return BusClient(role.run_dir.bus_path, role.worker, os.getpid(), apply)


class SecondaryProcess:
    """A secondary's part of `lambdad server --workers N` (see the module doc)."""

    def __init__(
        self,
        role: SecondaryRole,
        *,
        invoker: GatedInvoker,
        catalog: Catalog,
        concurrency: ConcurrencyCatalog,
        sessions: RoleSessions,
        credentials: CredentialResolvers,
        counters: SharedCounters,
        logs: FunctionLogs,
        metrics: LambdaCollector,
    ) -> None:
        self.role = role
        self.counters = counters
        invoker.gate = gate = Gate(concurrency)
        catalog.on_change(gate.forget)
        concurrency.on_change(gate.forget)
        credentials.add(ForwardUnknownSessions())  # the primary's to resolve
        self.forwarder = Forwarder(role.run_dir.forward_path, role.worker)
        self.bus = bus_client(role, catalog, concurrency, sessions, logs, metrics)
        # Its stored log events go to the primary's Live Tail sessions.
        self.tail = LiveTailPublisher(role.run_dir.tail_path)
        logs.publish_tail_to(self.tail)

    async def start(self, group: TaskGroup) -> None:
        """First of all: on the change bus before anything is read; the Live Tail relay."""
        await group.start(self._until_primary_gone)
        group.start_soon(self.tail.run)

    async def _until_primary_gone(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            await self.bus.run(task_status=task_status)
        finally:
            self.role.on_primary_gone()  # the bus closed: the primary is gone, so is this

    async def close(self) -> None:
        """Last, once its environments are gone."""
        await self.forwarder.aclose()
        self.counters.close()
        self.role.stopped()

    def app(
        self,
        context: ApiContext,
        lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]],
    ) -> ASGIApp:
        forwarder = self.forwarder
        return SecondaryFront(
            create_app(
                context,
                lifespan=lifespan,
                function_urls=forward_now,
                around_guard=lambda guarded: ForwardOnGate(guarded, forwarder),
            ),
            forwarder,
        )
