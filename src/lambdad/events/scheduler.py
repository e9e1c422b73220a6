"""EventBridge Scheduler: schedule groups and schedules, each schedule a timer.

Every schedule owns a timer of the ticker (`owner_kind` "schedule", owner id
`region/group/name`); its ticks invoke the target function asynchronously through
the server's durable async queue, so the function's concurrency limits, retries,
event invoke config and logs apply as to any `InvocationType=Event` invoke. The
schedule's `RetryPolicy` is Scheduler's own: how often, and for how long, a tick
that could not be handed to Lambda is tried again (a missing function is not
retried, as AWS sends such a tick to the dead-letter queue at once). The tick's id
is the async event's request id, so a tick delivered twice after a crash is
queued once.

Scheduler invokes a target as the schedule's execution role (`Target.RoleArn`),
not through the function's resource policy: a tick whose role does not allow
`lambda:InvokeFunction` on the target (or names no role of this server) fails
without retries, as AWS treats a permission error, and is dropped (there are
no dead-letter queues here); the server logs it.

Missed ticks follow the ticker's policy, with the schedule's
`MaximumEventAgeInSeconds` as the grace: the most recent missed tick fires once,
late, if younger than that; older ones are skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from lambdad.catalog import Account
from lambdad.catalog.constraints import Violations
from lambdad.catalog.regional import Regional
from lambdad.concurrency import run_sync
from lambdad.errors import LambdadError, ResourceConflict, ResourceNotFound, ValidationError
from lambdad.events.schedule_model import (
    DEFAULT_GROUP,
    Schedule,
    ScheduleConfig,
    ScheduleConflict,
    ScheduleGroup,
    ScheduleGroupNotFound,
    ScheduleNotFound,
    check_config,
    check_lambda_target,
    check_names,
    schedule_arn,
)
from lambdad.events.ticker import DropFire, Fire, Ticker, TimerSpec
from lambdad.invoke import MAX_ASYNC_PAYLOAD, AsyncQueue, Invoker, check_payload, new_trace_root
from lambdad.store import LATEST, ScheduleGroupRow, ScheduleRow, ScheduleStore

log = logging.getLogger(__name__)

OWNER_KIND = "schedule"
MAX_PAGE = 100
Clock = Callable[[], float]
RoleMayInvoke = Callable[[str, str], Awaitable[bool]]
"""(role ARN, function ARN) -> whether that role's policy allows invoking it
(`iam.Access.role_may_invoke`)."""


class Scheduler(Regional):
    """The Scheduler API's operations for one region (`in_region` for another)."""

    def __init__(
        self,
        account: Account,
        store: ScheduleStore,
        ticker: Ticker,
        invoker: Invoker,
        async_queue: AsyncQueue,
        role_may_invoke: RoleMayInvoke,
        clock: Clock = time.time,
    ) -> None:
        self.account = account
        self.store = store
        self.ticker = ticker
        self.invoker = invoker
        self.async_queue = async_queue
        self.role_may_invoke = role_may_invoke
        self._clock = clock
        ticker.on_fire(OWNER_KIND, self._fire)

    @property
    def region(self) -> str:
        return self.account.region

    def schedule_arn(self, group_name: str | None, name: str) -> str:
        """The ARN of schedule `name` in `group_name` (default: `default`)."""
        return schedule_arn(self.region, self.account.account_id, group_name or DEFAULT_GROUP, name)

    # Schedule groups

    async def create_group(
        self, name: str, tags: dict[str, str], client_token: str | None = None
    ) -> ScheduleGroup:
        check_names(None, name)
        if name == DEFAULT_GROUP:
            raise ValidationError(f"This operation cannot be performed on schedule group {name}.")
        now = self._clock()
        row = ScheduleGroupRow(self.region, name, now, now, tags)
        if not await run_sync(self.store.create_group, row):
            raise ScheduleConflict(f"Schedule group {name} already exists.")
        return self._group(row)

    async def get_group(self, name: str | None) -> ScheduleGroup:
        name = name or DEFAULT_GROUP
        check_names(None, name)
        if name == DEFAULT_GROUP:
            return ScheduleGroup(self.region, self.account.account_id, name, None, None, {})
        row = await run_sync(self.store.get_group, self.region, name)
        if row is None:
            raise ScheduleGroupNotFound(name)
        return self._group(row)

    async def list_groups(
        self, prefix: str | None, token: str | None, limit: int | None
    ) -> tuple[list[ScheduleGroup], str | None]:
        limit = _page_size(limit)
        after = _read_token(token)
        found = []
        if after is None and (not prefix or DEFAULT_GROUP.startswith(prefix)):
            found.append(await self.get_group(DEFAULT_GROUP))
        start = after[0] if after else ""
        rows = await run_sync(self.store.list_groups, self.region, prefix, start, limit + 1)
        found += [self._group(r) for r in rows]
        page = found[:limit]
        more = len(found) > limit
        return page, _token(page[-1].name, "") if more else None

    async def delete_group(self, name: str) -> None:
        check_names(None, name)
        if name == DEFAULT_GROUP:
            raise ValidationError(f"This operation cannot be performed on schedule group {name}.")
        removed = await run_sync(self.store.delete_group, self.region, name)
        if removed is None:
            raise ScheduleGroupNotFound(name)
        for row in removed:
            await self.ticker.remove(OWNER_KIND, _owner_id(row.region, row.group_name, row.name))

    async def tag_group(self, arn: str, tags: dict[str, str]) -> None:
        group = await self._group_of_arn(arn)
        await run_sync(
            self.store.set_group_tags,
            self.region,
            group.name,
            {**group.tags, **tags},
            self._clock(),
        )

    async def untag_group(self, arn: str, keys: list[str]) -> None:
        group = await self._group_of_arn(arn)
        tags = {k: v for k, v in group.tags.items() if k not in keys}
        await run_sync(self.store.set_group_tags, self.region, group.name, tags, self._clock())

    async def group_tags(self, arn: str) -> dict[str, str]:
        return (await self._group_of_arn(arn)).tags

    async def _group_of_arn(self, arn: str) -> ScheduleGroup:
        prefix = f"arn:aws:scheduler:{self.region}:{self.account.account_id}:schedule-group/"
        if not arn.startswith(prefix):
            raise ResourceNotFound(f"Resource {arn} does not exist.")
        name = arn.removeprefix(prefix)
        if name == DEFAULT_GROUP:
            raise ValidationError(f"This operation cannot be performed on schedule group {name}.")
        return await self.get_group(name)

    # Schedules

    async def create(self, name: str, group_name: str | None, config: ScheduleConfig) -> Schedule:
        group_name = group_name or DEFAULT_GROUP
        check_names(name, group_name)
        config = self._checked(config)
        await self.get_group(group_name)  # ResourceNotFoundException first
        now = time.time()
        row = ScheduleRow(self.region, group_name, name, config.state, config.to_json(), now, now)
        if not await run_sync(self.store.create, row):
            existing = await self.get(name, group_name)
            if config.client_token and existing.config.client_token == config.client_token:
                return existing  # the same request again (an SDK's retry)
            raise ScheduleConflict(f"Schedule {name} already exists.")
        schedule = self._schedule(row)
        await self._arm(schedule)
        return schedule

    async def update(self, name: str, group_name: str | None, config: ScheduleConfig) -> Schedule:
        group_name = group_name or DEFAULT_GROUP
        check_names(name, group_name)
        config = self._checked(config)
        current = await self.get(name, group_name)
        row = ScheduleRow(
            self.region,
            group_name,
            name,
            config.state,
            config.to_json(),
            current.creation_date,
            time.time(),
        )
        if not await run_sync(self.store.replace, row):
            raise ScheduleNotFound(name)
        schedule = self._schedule(row)
        await self._arm(schedule)
        return schedule

    async def get(self, name: str, group_name: str | None) -> Schedule:
        group_name = group_name or DEFAULT_GROUP
        check_names(name, group_name)
        row = await run_sync(self.store.get, self.region, group_name, name)
        if row is None:
            await self.get_group(group_name)
            raise ScheduleNotFound(name)
        return self._schedule(row)

    async def delete(self, name: str, group_name: str | None) -> None:
        group_name = group_name or DEFAULT_GROUP
        check_names(name, group_name)
        if not await run_sync(self.store.delete, self.region, group_name, name):
            await self.get_group(group_name)
            raise ScheduleNotFound(name)
        await self.ticker.remove(OWNER_KIND, _owner_id(self.region, group_name, name))

    async def list(
        self,
        group_name: str | None,
        prefix: str | None,
        state: str | None,
        token: str | None,
        limit: int | None,
    ) -> tuple[list[Schedule], str | None]:
        if group_name is not None:
            await self.get_group(group_name)
        limit = _page_size(limit)
        rows = await run_sync(
            self.store.page, self.region, group_name, prefix, state, _read_token(token), limit + 1
        )
        page = [self._schedule(r) for r in rows[:limit]]
        more = len(rows) > limit
        return page, _token(page[-1].group_name, page[-1].name) if more else None

    async def resume(self) -> None:
        """At startup: arm schedules whose timer is missing (a crash between the
        schedule's write and its timer's)."""
        for row in await run_sync(self.store.every):
            owner = _owner_id(row.region, row.group_name, row.name)
            if await run_sync(self.ticker.store.get, OWNER_KIND, owner) is None:
                await self._arm(self._schedule(row))

    def _checked(self, config: ScheduleConfig) -> ScheduleConfig:
        return check_config(config, self.region, self.account.account_id, self.ticker.now())

    async def _arm(self, schedule: Schedule) -> None:
        config = schedule.config
        retry = config.target.retry_policy
        spec = TimerSpec(
            expression=config.expression,
            timezone=config.timezone,
            start_at=config.start_date,
            end_at=config.end_date,
            window_s=(config.window_minutes or 0) * 60 if config.window_mode == "FLEXIBLE" else 0,
            grace_s=float(retry.maximum_event_age_s),
            retry_attempts=retry.maximum_retry_attempts,
        )
        owner = _owner_id(schedule.region, schedule.group_name, schedule.name)
        await self.ticker.put(OWNER_KIND, owner, spec, enabled=config.state == "ENABLED")

    # Firing

    async def _fire(self, fire: Fire) -> None:
        """A tick: queue the target's invocation (idempotent on the tick's id)."""
        region, group_name, name = fire.owner_id.split("/", 2)
        row = await run_sync(self.store.get, region, group_name, name)
        if row is None or row.state != "ENABLED":
            raise DropFire("the schedule is gone or disabled")
        schedule = self._schedule(row)
        target = schedule.config.target
        function_name, qualifier = check_lambda_target(target.arn, region, self.account.account_id)
        payload = render_input(target.input, schedule.arn, fire).encode()
        try:
            await self.invoker.in_region(region).resolve(function_name, qualifier)
            check_payload(payload, MAX_ASYNC_PAYLOAD)
        except ResourceConflict:
            raise  # not ready yet: retried under the RetryPolicy
        except LambdadError as exc:
            raise DropFire(f"{schedule.arn}: {exc.code}: {exc.message}") from exc
        if not await self.role_may_invoke(target.role_arn, target.arn):
            raise DropFire(
                f"{schedule.arn}: AccessDeniedException: the execution role {target.role_arn} "
                f"is not authorized to perform lambda:InvokeFunction on {target.arn}"
            )
        await self.async_queue.enqueue(
            region,
            function_name,
            qualifier or LATEST,
            payload,
            new_trace_root(),
            request_id=fire.id,
        )
        log.info("schedule %s: tick of %s invoked %s", schedule.arn, _iso(fire.tick_at), target.arn)
        if fire.last and schedule.config.action_after_completion == "DELETE":
            await run_sync(self.store.delete, region, group_name, name)
            await self.ticker.remove(OWNER_KIND, fire.owner_id)
            log.info("schedule %s: completed and deleted", schedule.arn)

    def _schedule(self, row: ScheduleRow) -> Schedule:
        return Schedule(
            row.region,
            self.account.account_id,
            row.group_name,
            row.name,
            ScheduleConfig.from_json(row.config),
            row.creation_date,
            row.last_modification_date,
        )

    def _group(self, row: ScheduleGroupRow) -> ScheduleGroup:
        return ScheduleGroup(
            row.region,
            self.account.account_id,
            row.name,
            row.creation_date,
            row.last_modification_date,
            dict(row.tags),
        )


def render_input(template: str | None, schedule_arn: str, fire: Fire) -> str:
    """The target's Input with Scheduler's context attributes filled in; `{}` when none."""
    if template is None:
        return "{}"
    values = {
        "<aws.scheduler.schedule-arn>": schedule_arn,
        "<aws.scheduler.scheduled-time>": _iso(fire.tick_at),
        "<aws.scheduler.execution-id>": fire.id,
        "<aws.scheduler.attempt-number>": str(fire.attempt),
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def _owner_id(region: str, group_name: str, name: str) -> str:
    return f"{region}/{group_name}/{name}"


def _page_size(limit: int | None) -> int:
    if limit is None:
        return MAX_PAGE
    violations = Violations()
    violations.range(limit, "maxResults", 1, MAX_PAGE)
    violations.raise_if_any()
    return limit


def _token(group_name: str, name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([group_name, name]).encode()).decode()


def _read_token(token: str | None) -> tuple[str, str] | None:
    if token is None:
        return None
    try:
        group_name, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(group_name), str(name)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ValidationError("Invalid NextToken.") from exc


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
