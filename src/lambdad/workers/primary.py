"""What a primary adds to a single server's object graph (`server.build_app` with a
`Cluster`): its secondaries, the change bus, the role sessions they minted, and the
trust of forwarded requests. See the package doc."""

from __future__ import annotations

from anyio.abc import TaskGroup
from starlette.types import ASGIApp

from lambdad.catalog import Catalog, ConcurrencyCatalog
from lambdad.iam import CredentialResolvers
from lambdad.iam.role_sessions import RoleSessions
from lambdad.settings import Settings
from lambdad.telemetry import FunctionLogs
from lambdad.telemetry.prometheus import LambdaCollector
from lambdad.workers.bus import ChangeBus
from lambdad.workers.forward import ForwardedClient
from lambdad.workers.live_tail_relay import LiveTailReceiver
from lambdad.workers.metrics import MetricsOfSecondaries
from lambdad.workers.sessions import SessionsOfSecondaries
from lambdad.workers.supervisor import Cluster, Secondaries


class PrimaryProcess:
    """The primary's part of `lambdad server --workers N`."""

    def __init__(
        self,
        cluster: Cluster,
        settings: Settings,
        *,
        catalog: Catalog,
        concurrency: ConcurrencyCatalog,
        sessions: RoleSessions,
        credentials: CredentialResolvers,
        logs: FunctionLogs,
        metrics: LambdaCollector,
    ) -> None:
        """`settings` as the secondaries get them (its runtime cache resolved: they
        share the primary's prepared runtimes)."""
        self.cluster = cluster
        self.secondaries = Secondaries(cluster, settings)
        self.bus = ChangeBus(cluster.run_dir.bus_path, self.secondaries.kill)
        # Every change the primary's own listeners hear, every secondary hears first.
        catalog.on_change(self.bus.function_changed)
        catalog.on_version_change(self.bus.version_changed)
        concurrency.on_change(self.bus.concurrency_changed)
        credentials.add(SessionsOfSecondaries(sessions, self.bus))
        # A read of log events sees the lines of invokes the secondaries ran.
        logs.flush_others_with(self.bus.flush_logs)
        # A scrape of /metrics counts the secondaries' invocations too; a CloudWatch
        # query reads what they recorded.
        self.metrics = MetricsOfSecondaries(self.bus, metrics)
        metrics.recorder.flush_others_with(self.bus.flush_metrics)
        # Live Tail sessions are the primary's: the secondaries' log events come here.
        self.tail = LiveTailReceiver(logs.live_tail, cluster.run_dir.tail_path)

    async def start(self, group: TaskGroup) -> None:
        """Once the primary is ready: the Live Tail relay and the bus, then the
        secondaries (back once each one is on the bus)."""
        self.metrics.start()
        await group.start(self.tail.serve)
        await group.start(self.bus.serve)
        await group.start(self.secondaries.run, self.bus.connected)

    async def stop(self) -> None:
        """Before the primary's own environments go: the secondaries', by stopping them."""
        await self.secondaries.stop()

    def close(self) -> None:
        """Last: the run dir (uvicorn may end the process by signal after the lifespan)."""
        self.cluster.remove()

    def app(self, app: ASGIApp) -> ASGIApp:
        """`app`, with forwarded requests' client addresses (`forward.py`)."""
        return ForwardedClient(app, self.cluster.run_dir.forward_path)
