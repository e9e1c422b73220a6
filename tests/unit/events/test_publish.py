"""Deliveries: one async invocation per target, named so a redelivered event is queued
once, and only to targets whose resource policy lets the event bus invoke them."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import sqlalchemy as sa

from lambdad.catalog import Account
from lambdad.events import EventRules, Publisher, Rule, RuleState, Target
from lambdad.store import EventBusStore

ACCOUNT = Account(region="us-east-1", account_id="000000000000")
FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:f"


class Queue:
    """A fake async queue that, like the real one, queues a named event once."""

    def __init__(self) -> None:
        self.events: dict[str, tuple[str, str, str, bytes]] = {}

    async def __call__(
        self,
        region: str,
        function_name: str,
        qualifier: str,
        payload: bytes,
        trace_id: str | None,
        request_id: str | None = None,
    ) -> str:
        assert request_id is not None
        self.events.setdefault(request_id, (region, function_name, qualifier, payload))
        return request_id


class Permissions:
    """A fake authorizer: the (function ARN, rule ARN) pairs functions' policies allow."""

    def __init__(self, allowed: set[tuple[str, str]] | None = None) -> None:
        self.allowed = allowed
        self.asked: list[tuple[str, str, str | None, str | None]] = []

    async def __call__(
        self, service: str, function: str, source: str | None, account: str | None
    ) -> bool:
        self.asked.append((service, function, source, account))
        return self.allowed is None or (function, source or "") in self.allowed


def publisher(queue: Queue, permissions: Permissions) -> Publisher:
    rules = EventRules(ACCOUNT, EventBusStore(sa.create_engine("sqlite://")))
    return Publisher(rules, queue, permissions)


def rule(name: str) -> Rule:
    arn = f"arn:aws:events:us-east-1:000000000000:rule/{name}"
    return Rule(name, arn, "default", None, "rate(1 minute)", RuleState.ENABLED, None, None)


def test_an_event_handed_over_again_is_queued_once_per_rule_and_target() -> None:
    queue = Queue()
    publish = publisher(queue, Permissions())
    event: dict[str, Any] = {"id": str(uuid.uuid4()), "detail": {}}
    targets = [Target("a", FUNCTION), Target("b", f"{FUNCTION}:live", input='{"x": 1}')]

    async def deliver() -> None:
        for _ in range(2):  # a tick delivered again after a crash
            await publish.deliver(rule("one"), targets, event, None)
        await publish.deliver(rule("two"), targets[:1], event, None)  # same target id

    anyio.run(deliver)
    assert sorted(queue.events.values()) == sorted(
        [
            ("us-east-1", "f", "$LATEST", b'{"id":"' + event["id"].encode() + b'","detail":{}}'),
            ("us-east-1", "f", "$LATEST", b'{"id":"' + event["id"].encode() + b'","detail":{}}'),
            ("us-east-1", "f", "live", b'{"x": 1}'),
        ]
    )


def test_only_targets_whose_policy_allows_the_rule_are_queued() -> None:
    queue = Queue()
    one, two = rule("one"), rule("two")
    permissions = Permissions({(FUNCTION, one.arn), (f"{FUNCTION}:live", two.arn)})
    publish = publisher(queue, permissions)
    event: dict[str, Any] = {"id": str(uuid.uuid4()), "detail": {}}
    targets = [Target("a", FUNCTION), Target("b", f"{FUNCTION}:live")]

    async def deliver() -> None:
        await publish.deliver(one, targets, event, None)
        await publish.deliver(two, targets, event, None)

    anyio.run(deliver)
    assert sorted((q[1], q[2]) for q in queue.events.values()) == [
        ("f", "$LATEST"),  # rule one to the function; rule two to the alias
        ("f", "live"),
    ]
    assert permissions.asked[0] == ("events.amazonaws.com", FUNCTION, one.arn, "000000000000")
    assert len(permissions.asked) == 4
