"""Scheduled rules: a rule's ScheduleExpression ticks on the durable ticker, and each
tick sends EventBridge's Scheduled Event to the rule's targets.

    {"version": "0", "id": ..., "detail-type": "Scheduled Event", "source": "aws.events",
     "account": ..., "time": "<the tick>", "region": ..., "resources": ["<rule ARN>"],
     "detail": {}}

A rule's timer follows it: PutRule, EnableRule and DisableRule set it (a disabled
rule's timer has no next tick), DeleteRule removes it. Ticks are the ticker's:
each fires once, also across restarts, and ticks missed while the server was
down follow its documented policy (the most recent one fires once, late, the
rest are skipped). A rate's first tick is one period after the rule is put, as
on EventBridge. Each target gets one asynchronous invocation per tick, through
the same `Publisher.deliver` as PutEvents, which asks each target's resource
policy first (`events.amazonaws.com`, the rule's ARN as `aws:SourceArn`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from lambdad.concurrency import run_sync
from lambdad.events.model import DEFAULT_BUS, Rule
from lambdad.events.publish import Enqueue, InvokePermission, Publisher
from lambdad.events.rules import EventRules, target_of
from lambdad.events.ticker import DropFire, Fire, Ticker, TimerSpec

log = logging.getLogger(__name__)

OWNER_KIND = "events-rule"


class ScheduledRules:
    def __init__(
        self, rules: EventRules, ticker: Ticker, enqueue: Enqueue, may_invoke: InvokePermission
    ) -> None:
        self.rules = rules
        self.ticker = ticker
        self.enqueue = enqueue
        self.may_invoke = may_invoke
        ticker.on_fire(OWNER_KIND, self.fire)
        rules.on_rule_change(self.follow)

    async def follow(self, region: str, name: str, rule: Rule | None) -> None:
        """Set (or remove) the timer of the default bus's rule `name` after a change."""
        owner = f"{region}/{name}"
        if rule is None or rule.schedule_expression is None:
            await self.ticker.remove(OWNER_KIND, owner)
            return
        spec = TimerSpec(rule.schedule_expression, rate_fires_at_start=False)
        await self.ticker.put(OWNER_KIND, owner, spec, enabled=rule.state.enabled)

    async def fire(self, fire: Fire) -> None:
        region, name = fire.owner_id.split("/", 1)
        rules = self.rules.in_region(region)
        row = await run_sync(rules.store.get_rule, region, DEFAULT_BUS, name)
        if row is None or row.schedule_expression is None or row.state == "DISABLED":
            raise DropFire(f"rule {name} in {region} is gone, disabled or no longer scheduled")
        rule = rules.rule_of(row)
        targets = await run_sync(rules.store.list_targets, region, DEFAULT_BUS, name)
        event = {
            "version": "0",
            "id": fire.id,
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": rules.account.account_id,
            "time": datetime.fromtimestamp(fire.tick_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [rule.arn],
            "detail": {},
        }
        await Publisher(rules, self.enqueue, self.may_invoke).deliver(
            rule, [target_of(t) for t in targets], event, None
        )
