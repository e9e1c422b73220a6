"""PutEvents: each entry checked on its own, matched against its bus's rules, and delivered.

An entry that is not a valid event is answered in its own result
(`InvalidArgument`, `MalformedDetail`, a bus that does not exist) and the
others still go. A valid one becomes EventBridge's envelope:

    {"version": "0", "id": ..., "detail-type": ..., "source": ..., "account": ...,
     "time": "2024-01-01T12:00:00Z", "region": ..., "resources": [...], "detail": {...}}

Every enabled rule of the bus whose pattern matches it sends it to each of
its targets: one asynchronous invocation per target, written to the durable
queue before PutEvents answers, so retries, concurrency and logs are those of
any `InvocationType=Event` call. Scheduled rules deliver through the same
`deliver` with their Scheduled Event envelope.

As on AWS, the event bus invokes a function as the service principal
`events.amazonaws.com`, which only the function's resource policy can allow
(`AddPermission`, with the rule's ARN as `aws:SourceArn` when it names one).
A target whose function (or version, or alias) has no such permission is not
invoked: EventBridge counts that delivery among the rule's FailedInvocations
and does not retry it (a missing permission is not a transient error), and
without a dead-letter queue (lambdad has none) the event is dropped for that
target; the server logs it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from lambdad.concurrency import run_sync
from lambdad.errors import ResourceNotFound, ValidationError
from lambdad.events.model import Rule, Target, check_count
from lambdad.events.patterns import Pattern, compile_pattern
from lambdad.events.rules import EventRules, target_of
from lambdad.events.targets import function_of, target_input
from lambdad.events.transform import Delivery
from lambdad.invoke import new_trace_root

log = logging.getLogger(__name__)

MAX_ENTRIES = 10
MAX_REQUEST_SIZE = 256 * 1024
TIME_FIELD_SIZE = 14  # what the Time member counts for, given or not (AWS's entry size rule)


EVENTS_PRINCIPAL = "events.amazonaws.com"


InvokePermission = Callable[[str, str, str | None, str | None], Awaitable[bool]]
"""(service, function ARN, source ARN, source account) -> whether the function's
resource policy lets that service invoke it for that trigger
(`iam.Authorizer.service_may_invoke`)."""


class Enqueue(Protocol):
    """The async invoke queue's enqueue: (region, function name, qualifier, payload,
    trace id, request id) -> request id; an event named by its request id is queued once."""

    def __call__(
        self,
        region: str,
        function_name: str,
        qualifier: str,
        payload: bytes,
        trace_id: str | None,
        request_id: str | None = None,
    ) -> Awaitable[str]: ...


@dataclass(frozen=True)
class Entry:
    """One PutEventsRequestEntry, as sent."""

    source: str | None = None
    detail_type: str | None = None
    detail: str | None = None
    resources: Sequence[str] | None = None
    time: float | None = None
    event_bus_name: str | None = None
    trace_header: str | None = None


@dataclass(frozen=True)
class EntryResult:
    event_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class Publisher:
    def __init__(self, rules: EventRules, enqueue: Enqueue, may_invoke: InvokePermission) -> None:
        self.rules = rules
        self.enqueue = enqueue
        self.may_invoke = may_invoke

    async def put_events(self, entries: Sequence[Entry]) -> list[EntryResult]:
        _check_request(entries)
        buses: dict[str | None, list[tuple[Rule, list[Target]]] | EntryResult] = {}
        return [await self._publish(entry, buses) for entry in entries]

    async def _publish(
        self, entry: Entry, buses: dict[str | None, list[tuple[Rule, list[Target]]] | EntryResult]
    ) -> EntryResult:
        refusal = _refusal(entry)
        if refusal is not None:
            return refusal
        if entry.event_bus_name not in buses:  # each bus's rules read once a request
            buses[entry.event_bus_name] = await self._rules_of(entry.event_bus_name)
        rules = buses[entry.event_bus_name]
        if isinstance(rules, EntryResult):
            return rules
        event = self._envelope(entry)
        for rule, targets in rules:
            if _compiled(rule.event_pattern or "").matches(event):
                await self.deliver(rule, targets, event, entry.trace_header)
        return EntryResult(event_id=event["id"])

    async def deliver(
        self, rule: Rule, targets: Sequence[Target], event: dict[str, Any], trace: str | None
    ) -> None:
        """Send `event` to each target of `rule` (an async invocation each). The
        invocation's request id follows from the event's id, the rule and the target:
        the same event handed over again (a scheduled tick delivered again after a
        crash) is queued once. A target the function's resource policy does not
        open to the event bus for this rule is skipped (see the module doc)."""
        delivery = Delivery(rule.arn, rule.name, _timestamp(datetime.now(UTC)))
        account = self.rules.account.account_id
        for target in targets:
            if not await self.may_invoke(EVENTS_PRINCIPAL, target.arn, rule.arn, account):
                log.warning(
                    "rule %s: event %s not delivered to %s (FailedInvocations): its resource "
                    "policy does not allow %s to invoke it for this rule (AddPermission)",
                    rule.arn,
                    event.get("id"),
                    target.arn,
                    EVENTS_PRINCIPAL,
                )
                continue
            function = function_of(target.arn)
            payload = target_input(target, event, delivery)
            named = uuid.uuid5(uuid.NAMESPACE_URL, f"{event['id']}\0{rule.arn}\0{target.id}")
            request_id = await self.enqueue(
                self.rules.region,
                function.name,
                function.qualifier,
                payload,
                # A trigger starts a trace of its own unless the event came with one.
                trace or new_trace_root(),
                request_id=str(named),
            )
            log.info(
                "rule %s: event %s to %s:%s (async request %s)",
                rule.arn,
                event.get("id"),
                function.name,
                function.qualifier,
                request_id,
            )

    async def _rules_of(
        self, bus_name: str | None
    ) -> list[tuple[Rule, list[Target]]] | EntryResult:
        """The enabled pattern rules of a bus with their targets, or the entry's error."""
        try:
            bus = (await self.rules.get_bus(bus_name)).name
        except ValidationError as exc:
            return EntryResult(error_code="InvalidArgument", error_message=exc.message)
        except ResourceNotFound as exc:
            return EntryResult(error_code="ResourceNotFoundException", error_message=exc.message)
        pairs = await run_sync(self.rules.store.enabled_rules, self.rules.region, bus)
        return [
            (self.rules.rule_of(row), [target_of(t) for t in targets]) for row, targets in pairs
        ]

    def _envelope(self, entry: Entry) -> dict[str, Any]:
        when = datetime.now(UTC) if entry.time is None else datetime.fromtimestamp(entry.time, UTC)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry.detail_type,
            "source": entry.source,
            "account": self.rules.account.account_id,
            "time": _timestamp(when),
            "region": self.rules.region,
            "resources": list(entry.resources or []),
            "detail": json.loads(entry.detail or "{}"),
        }


def _check_request(entries: Sequence[Entry]) -> None:
    check_count(len(entries), "entries", 1, MAX_ENTRIES)
    if sum(entry_size(e) for e in entries) > MAX_REQUEST_SIZE:
        raise ValidationError("Total size of the entries in the request is over the limit.")


def entry_size(entry: Entry) -> int:
    """AWS's size of an entry: UTF-8 bytes of its strings, 14 for Time."""
    size = TIME_FIELD_SIZE
    for text in (entry.source, entry.detail_type, entry.detail, *(entry.resources or ())):
        size += len((text or "").encode())
    return size


def _refusal(entry: Entry) -> EntryResult | None:
    """The entry's own error, as EventBridge answers it in the entry's result."""
    for member, value in (
        ("Source", entry.source),
        ("DetailType", entry.detail_type),
        ("Detail", entry.detail),
    ):
        if not value:
            return EntryResult(
                error_code="InvalidArgument",
                error_message=(
                    f"Parameter {member} is not valid. Reason: {member} is a required argument."
                ),
            )
    try:
        detail = json.loads(entry.detail or "")
        # Deeper than the server can write back out inside an envelope: malformed too.
        json.dumps({"envelope": {"detail": detail}})
    except (ValueError, RecursionError):
        detail = None
    if not isinstance(detail, dict):
        return EntryResult(error_code="MalformedDetail", error_message="Detail is malformed.")
    return None


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Pattern:
    """Stored patterns were checked when put; compiled once per process."""
    return compile_pattern(pattern)


def _timestamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
