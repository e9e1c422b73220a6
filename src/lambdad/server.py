"""Wires the object graph from `Settings` (chalice's CLIFactory) and runs it."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.types import ASGIApp

from lambdad.api import ApiContext, CodeLinks, FunctionUrlFront, create_app
from lambdad.background import Background, keep_running
from lambdad.catalog import (
    Account,
    Catalog,
    CodeCache,
    ConcurrencyCatalog,
    EventInvokeConfigs,
    FunctionUrls,
    LayerCatalog,
    OptTrees,
    Policies,
    S3CodeFetcher,
)
from lambdad.concurrency import run_sync
from lambdad.console import console_routes
from lambdad.cost import CostExplorer, PriceTable, UsageRecorder
from lambdad.endpoints import lambda_url, parse_aws_endpoints
from lambdad.events import EventRules, ScheduledRules, Scheduler, Ticker
from lambdad.iam import (
    CREDENTIALS_FILE,
    Access,
    CachedUsers,
    ChangeMarker,
    CredentialResolvers,
    KeyPair,
    ServerKey,
    Users,
    write_credentials,
)
from lambdad.images import ImageLimits, ImageService, LocalImages, parse_registries
from lambdad.invoke import AsyncQueue, ConcurrencyLimiter, Invoker, RetryTimes
from lambdad.invoke.gauges import live_gauges
from lambdad.pool import (
    EnvironmentLauncher,
    EnvironmentPool,
    LaunchSettings,
    PreInitTemplates,
    Provisioner,
    Templates,
)
from lambdad.runtimes import RuntimeStore
from lambdad.sandbox import (
    EgressPolicy,
    PortForwarder,
    parse_allowed,
    raise_open_files_limit,
    select_backend,
    shared_files,
)
from lambdad.server_log import configure_logging
from lambdad.settings import Settings
from lambdad.store import (
    AsyncEventStore,
    BlobStore,
    ConcurrencyStore,
    EventBusStore,
    EventInvokeConfigStore,
    FunctionStore,
    FunctionUrlStore,
    LayerStore,
    LogStore,
    MetricStore,
    PolicyStore,
    RoleStore,
    ScheduleStore,
    TimerStore,
    TraceStore,
    UsageStore,
    UserStore,
    create_engine,
    migrate,
)
from lambdad.telemetry import FunctionLogs, MetricsRecorder, Tracing, new_stream_name
from lambdad.telemetry.live_tail import end_every_session
from lambdad.telemetry.prometheus import LambdaCollector, MetricsListener, registry_of
from lambdad.workers import (
    Cluster,
    FrontedServer,
    GatedInvoker,
    PrimaryProcess,
    SecondaryProcess,
    SecondaryRole,
    SharedCounters,
    worker_dir,
)

log = logging.getLogger(__name__)


def _secret(data_dir: Path) -> bytes:
    """The key that signs code download links; made once per data dir."""
    path = data_dir / "secret.key"
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def _bootstrap_admin(users: Users, data_dir: Path) -> None:
    """On a fresh data dir: make the admin user, show its key once, and keep it in a
    file only the operator can read (the CLI and scripts/start.sh read it there)."""
    key = users.ensure_admin()
    if key is None:
        return
    path = data_dir / CREDENTIALS_FILE
    write_credentials(path, KeyPair(key.access_key_id, key.secret_access_key))
    # Printed, not logged: the secret is for the operator's eyes once, not for log files.
    print(
        f"lambdad: made the admin user; its access key (shown once, kept in {path}):\n"
        f"  AWS_ACCESS_KEY_ID={key.access_key_id}\n"
        f"  AWS_SECRET_ACCESS_KEY={key.secret_access_key}",
        flush=True,
    )


def schedule_clock(settings: Settings) -> Callable[[], float]:
    """The ticker's clock: real time, or a test clock running faster from an epoch."""
    epoch, speed = settings.schedule_clock_epoch, settings.schedule_clock_speed
    if speed == 1.0:
        return time.time
    return lambda: epoch + (time.time() - epoch) * speed


def _otlp_exporter(settings: Settings) -> Any:
    """The OTLP/HTTP span exporter, when an endpoint is configured: --otlp-endpoint, or
    OpenTelemetry's own variables (which the exporter then reads itself)."""
    standard = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    if not settings.otlp_endpoint and not any(os.environ.get(name) for name in standard):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if settings.otlp_endpoint:
        return OTLPSpanExporter(endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces")
    return OTLPSpanExporter()


async def _no_targets() -> list[Any]:
    return []


def build_app(
    settings: Settings,
    *,
    cluster: Cluster | None = None,
    secondary: SecondaryRole | None = None,
) -> ASGIApp:
    """The server's ASGI app: a single server's; with `cluster`, a primary's (it also
    starts and serves the secondaries, lambdad.workers); with `secondary`, a
    secondary's (its own sandbox dirs, its local Invoke path, no control plane)."""
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    primary = secondary is None  # everything a single server does, done once
    # A secondary's sandboxes, code and work dirs are its own: it cleans them itself.
    own_dir = data_dir if secondary is None else worker_dir(data_dir, secondary.worker)
    own_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.sqlalchemy_url)
    server_key = ServerKey.load_or_create(data_dir)
    blobs = BlobStore(data_dir / "blobs")
    endpoints = parse_aws_endpoints(settings.aws_endpoints)
    forwarder = PortForwarder()
    backend = select_backend(
        settings.sandbox_backend,
        state_dir=own_dir / "sandbox",
        forwarder=forwarder,
        egress=EgressPolicy(allowed=parse_allowed(settings.egress_allow)),
    )
    sandbox_files = shared_files(own_dir, backend.name)
    code_cache = CodeCache(blobs, sandbox_files.code_dir)
    background = Background()
    images = ImageService(
        LocalImages(
            data_dir / "images",
            ImageLimits(max_bytes=settings.image_max_bytes, max_entries=settings.image_max_files),
        ),
        parse_registries(settings.image_registries),
    )
    account = Account(region=settings.region, account_id=settings.account_id)
    policy_store = PolicyStore(engine, settings.region)

    async def resource_policy(arn: str) -> dict[str, Any] | None:
        return await context.policies.document_for(arn)

    changes = ChangeMarker(data_dir)
    users = Users(UserStore(engine), server_key, settings.account_id, changes.mark)
    cached_users = CachedUsers(users, changes)
    access = Access.build(
        settings.account_id,
        RoleStore(engine),
        server_key,
        resource_policy,
        cached_users,
        enabled=settings.auth_enabled,
        credentials_ttl_s=settings.role_credentials_ttl_s,
    )
    layers = LayerCatalog(account, LayerStore(engine, settings.region), blobs)
    catalog = Catalog(
        account=account,
        functions=FunctionStore(engine, settings.region, sealer=server_key),
        blobs=blobs,
        code_cache=code_cache,
        spawn=background.spawn,
        layers=layers,
        check_role=access.check_role,
        images=images,
        images_run=backend.name != "process",  # it cannot give one its image's root
    )
    logs = FunctionLogs(LogStore(engine, settings.region), max_bytes=settings.logs_max_bytes)
    # Under the data dir by default: where the process backend's sandboxes reach it.
    runtime_cache = (
        Path(settings.runtime_cache) if settings.runtime_cache else sandbox_files.root / "runtimes"
    )
    launcher = EnvironmentLauncher(
        LaunchSettings(
            region=settings.region,
            network=settings.network,
            strict_runtimes=settings.strict_runtimes,
            work_root=sandbox_files.work_root,
            bytecode_dir=own_dir / "bytecode",
            own_api=lambda_url(settings.host, settings.port),
            endpoints=endpoints,
            ready_environments=settings.ready_environments,
        ),
        code_cache,
        backend,
        OptTrees(code_cache, sandbox_files.opt_dir),
        open_output=logs.open_output,
        runtimes=RuntimeStore(runtime_cache),
        credentials=access.credentials_for,
        images=images,
    )
    pool = EnvironmentPool(
        launcher.start,
        new_stream_name,
        settings.idle_timeout_s,
        start_provisioned=launcher.start_provisioned,
        max_age_s=access.max_environment_age_s,
        freeze_after_s=settings.freeze_after_s,
        queue_wait_max_s=settings.queue_wait_max_s,
    )
    catalog.on_version_change(pool.retire)
    templates = Templates(
        backend,
        launcher.start_template,
        max_templates=settings.snapstart_templates,
        network_of=launcher.network_of,
        spawn=background.spawn,
    )
    launcher.templates = templates
    if settings.preinit_templates > 0:
        preinit = PreInitTemplates(
            backend,
            launcher.start_preinit_template,
            max_templates=settings.preinit_templates,
            max_memory_mb=settings.preinit_templates_mb,
            idle_s=max(settings.idle_timeout_s, 60.0),
            network_of=launcher.network_of,
            spawn=background.spawn,
        )
        launcher.preinit = preinit
        catalog.on_version_change(preinit.retire)
    catalog.snapstart = templates
    catalog.on_version_change(templates.retire)
    catalog.on_change(lambda _name: layers.sweep())
    concurrency = ConcurrencyCatalog(
        account,
        catalog,
        ConcurrencyStore(engine, settings.region),
        settings.concurrent_executions,
    )
    event_invoke_configs = EventInvokeConfigs(
        account, catalog, EventInvokeConfigStore(engine, settings.region)
    )
    # With several processes, the account-wide counts are summed over all of them.
    shared = None
    if cluster is not None:
        shared = cluster.counters
    elif secondary is not None:
        shared = SharedCounters.open(secondary.counters)
    limiter = ConcurrencyLimiter(
        settings.concurrent_executions, None if shared is None else shared.account(account.region)
    )
    metrics = MetricsRecorder(MetricStore(engine))
    pool.on_queue_wait(  # an unqualified ARN: arn:aws:lambda:REGION:ACCOUNT:function:NAME
        lambda v, s: metrics.queue_wait(v.function_arn.split(":")[3], v.function_name, s * 1000)
    )
    tracing = Tracing(TraceStore(engine), _otlp_exporter(settings), settings.trace_max_segments)

    async def refresh_unreserved_pool(_function_name: str = "") -> None:
        """Each region's limiter learns its region's unreserved pool."""
        for region, regional in invoker.regions().items():
            pool_now = (await concurrency.in_region(region).account_concurrency()).unreserved
            regional.limiter.unreserved_pool = pool_now

    provisioner = Provisioner(pool, concurrency.provisioned_targets)
    for listener in (refresh_unreserved_pool, provisioner.wake):
        catalog.on_change(listener)
        concurrency.on_change(listener)
    usage = UsageStore(engine)
    usage_recorder = UsageRecorder(usage, retention_days=settings.usage_retention_days)
    invoker = (Invoker if primary else GatedInvoker)(
        account,
        catalog,
        pool,
        limiter,
        logs,
        concurrency,
        max_streamed_response=settings.max_streamed_response,
        usage=usage_recorder.record,
        metrics=metrics,
        tracing=tracing,
    )
    async_events = AsyncEventStore(engine)
    # A secondary's scrape is the primary's to add up; the async queue is the primary's.
    gauges = live_gauges(invoker, pool, async_events if primary else None)
    metrics_collector = LambdaCollector(metrics, gauges)
    metrics_registry = registry_of(metrics_collector)
    metrics_listener = (
        MetricsListener(settings.metrics_listen, metrics_registry)
        if settings.metrics_listen and primary
        else None
    )
    async_queue = AsyncQueue(
        async_events,
        invoker,
        event_invoke_configs,
        RetryTimes(
            retry_base_s=settings.async_retry_base_s,
            throttle_max_delay_s=settings.async_throttle_max_delay_s,
            max_event_age_cap_s=settings.async_max_event_age_s,
        ),
        workers=settings.async_workers,
    )
    ticker = Ticker(TimerStore(engine), schedule_clock(settings), settings.schedule_clock_speed)
    event_rules = EventRules(account, EventBusStore(engine))
    # It follows the rules' changes; a tick is delivered as the event bus delivers (permissions).
    ScheduledRules(event_rules, ticker, async_queue.enqueue, access.authorizer.service_may_invoke)
    scheduler = Scheduler(
        account, ScheduleStore(engine), ticker, invoker, async_queue, access.role_may_invoke
    )
    context = ApiContext(
        settings=settings,
        account=account,
        catalog=catalog,
        code_links=CodeLinks(_secret(data_dir)),
        invoker=invoker,
        async_queue=async_queue,
        logs=logs,
        event_invoke_configs=event_invoke_configs,
        function_urls=FunctionUrls(account, catalog, FunctionUrlStore(engine, settings.region)),
        policies=Policies(account, catalog, policy_store),
        concurrency=concurrency,
        provisioner=provisioner,
        users=users,
        event_rules=event_rules,
        scheduler=scheduler,
        s3_code=S3CodeFetcher(endpoints.s3),
        credentials=CredentialResolvers([cached_users, access.sessions]),
        authorizer=access.authorizer,
        images=images,
        metrics=metrics,
        metrics_registry=metrics_registry,
        cost_explorer=CostExplorer(
            usage,
            PriceTable.load(settings.prices or None),
            settings.account_id,
            free_tier=settings.cost_free_tier,
        ),
        tracing=tracing,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if primary:  # a secondary starts once the primary has done all this
            await run_sync(migrate, engine, settings.region)
            await run_sync(_bootstrap_admin, users, data_dir)
            await run_sync(catalog.functions.seal_environments)
            await run_sync(access.roles.ensure_default)
            await run_sync(images.local.clean)
        await run_sync(launcher.clean_work_root)
        async with anyio.create_task_group() as group:
            background.attach(group)
            if secondary_process is not None:
                await secondary_process.start(group)
            await group.start(forwarder.run)
            for region in await run_sync(catalog.functions.regions):
                invoker.in_region(region)  # its limiter learns its pool below
                if primary:
                    await catalog.in_region(region).resume_pending()
            await refresh_unreserved_pool()
            if primary:  # the control plane's loops run once, in the primary
                await scheduler.resume()
                group.start_soon(keep_running, provisioner.run)
                group.start_soon(keep_running, async_queue.run)
                group.start_soon(keep_running, ticker.run)
                group.start_soon(keep_running, logs.run_sweeper, settings.logs_sweep_interval_s)
            group.start_soon(keep_running, pool.run_reaper)
            group.start_soon(keep_running, templates.run)
            if launcher.preinit is not None:
                # Retired templates end once their environments have: look often.
                group.start_soon(keep_running, launcher.preinit.run, 5.0)
            if launcher.ready is not None:
                group.start_soon(keep_running, launcher.ready.run)
            group.start_soon(keep_running, pool.run_freezer)
            group.start_soon(keep_running, logs.run)
            # Provisioned concurrency is sampled once, by the primary.
            targets = concurrency.provisioned_targets if primary else _no_targets
            group.start_soon(keep_running, usage_recorder.run, targets)
            group.start_soon(keep_running, metrics.run, settings.metrics_flush_interval_s)
            group.start_soon(keep_running, tracing.run)
            if metrics_listener is not None:
                await run_sync(metrics_listener.start)
            if primary_process is not None:
                await primary_process.start(group)
            log.info(
                "lambdad ready on %s (data in %s, sandbox backend %s%s)",
                settings.endpoint,
                data_dir,
                backend.name,
                "" if cluster is None else f", {cluster.count} server processes",
            )
            try:
                yield
            finally:
                if primary_process is not None:
                    with anyio.CancelScope(shield=True):
                        await primary_process.stop()
                group.cancel_scope.cancel()
                background.attach(None)
                with anyio.CancelScope(shield=True):
                    await pool.close()
                    await templates.close()
                    if launcher.preinit is not None:
                        await launcher.preinit.close()
                    await launcher.close()
                    await backend.close()
                    await run_sync(sandbox_files.remove)
                    await logs.flush()
                    await metrics.flush()
                    await tracing.flush()
                    await run_sync(tracing.shutdown)
                    if metrics_listener is not None:
                        await run_sync(metrics_listener.stop)
                    await usage_recorder.flush()
                    if secondary_process is not None:
                        await secondary_process.close()
                    if primary_process is not None:
                        primary_process.close()
        engine.dispose()

    primary_process = secondary_process = None
    if cluster is not None:
        primary_process = PrimaryProcess(
            cluster,
            dataclasses.replace(settings, runtime_cache=str(runtime_cache)),  # theirs too
            catalog=catalog,
            concurrency=concurrency,
            sessions=access.sessions,
            credentials=context.credentials,
            logs=logs,
            metrics=metrics_collector,
        )
    if secondary is not None:
        assert isinstance(invoker, GatedInvoker) and shared is not None
        secondary_process = SecondaryProcess(
            secondary,
            invoker=invoker,
            catalog=catalog,
            concurrency=concurrency,
            sessions=access.sessions,
            credentials=context.credentials,
            counters=shared,
            logs=logs,
            metrics=metrics_collector,
        )
        return secondary_process.app(context, lifespan)
    app = create_app(
        context,
        lifespan=lifespan,
        extra_routes=console_routes(),
        function_urls=FunctionUrlFront(context),
    )
    return app if primary_process is None else primary_process.app(app)


def is_loopback(host: str) -> bool:
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_unsafe_auth_off(settings: Settings) -> None:
    """`--auth off` serves anyone as anyone: only on an address no one else reaches."""
    if not settings.auth_enabled and not is_loopback(settings.host):
        raise SystemExit(
            f"error: --auth off (LAMBDAD_AUTH=off) is for local development and listens on "
            f"loopback only, not on {settings.host!r}: every request would be served "
            "unauthenticated. Listen on 127.0.0.1 (--host), or leave authentication on."
        )


def serve(settings: Settings) -> None:
    import uvicorn

    from lambdad.api.http_protocol import CoalescingHttpToolsProtocol  # imports uvicorn's

    refuse_unsafe_auth_off(settings)
    raise_open_files_limit()  # thousands of warm environments hold two fds each
    configure_logging(settings.log_level)  # before anything logs
    if not settings.auth_enabled:
        log.warning(
            "authentication is OFF (--auth off): every request is served unsigned, as anyone; "
            "for local development only"
        )
    cluster = None
    if settings.workers > 1:
        try:
            cluster = Cluster.create(settings)
        except OSError as exc:  # as uvicorn says a taken port
            log.error("%s", exc)
            raise SystemExit(3) from exc
        settings = settings.with_overrides(port=cluster.port)
    try:
        config = uvicorn.Config(
            build_app(settings, cluster=cluster),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,  # RequestLog writes the one line per request
            log_config=None,  # uvicorn's own lines in the same format as ours
            lifespan="on",
            http=CoalescingHttpToolsProtocol,  # a response's head and body in one write
        )

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                super().handle_exit(sig, frame)
                end_every_session()  # Live Tail sessions would keep uvicorn waiting for them

        if cluster is None:
            server = Server(config)
            server.run()
        else:
            # The TCP port is the balancer's to accept on (lambdad.workers.balance).
            class Primary(FrontedServer, Server):
                pass

            server = Primary(config, cluster.balancer)
            server.run(sockets=[cluster.forward])
    finally:
        if cluster is not None:
            cluster.remove()
    if not server.started:  # as uvicorn.run says it: the port was taken, say
        raise SystemExit(3)
