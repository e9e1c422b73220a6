"""ConcurrencyLimiter with a shared backend: the account-wide limits over processes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdad.errors import Throttled
from lambdad.invoke import ConcurrencyLimiter
from lambdad.invoke.concurrency import ACCOUNT_LIMIT, RESERVED_LIMIT, Admission, Provisioned
from lambdad.workers import SharedCounters

REGION = "us-east-1"


@pytest.fixture
def counters(tmp_path: Path) -> Iterator[SharedCounters]:
    made = SharedCounters.create(tmp_path, slots=3)
    yield made
    made.close()


@pytest.fixture
def secondary(counters: SharedCounters) -> Iterator[SharedCounters]:
    opened = SharedCounters.open(counters.handle(1))
    yield opened
    opened.close()


def _reason(limiter: ConcurrencyLimiter, name: str, reserved: int | None) -> str | None:
    try:
        limiter.admit(name, reserved)
    except Throttled as e:
        return e.reason
    return None


def test_the_account_limit_holds_over_both_processes(
    counters: SharedCounters, secondary: SharedCounters
) -> None:
    primary = ConcurrencyLimiter(3, shared=counters.account(REGION))
    other = ConcurrencyLimiter(3, shared=secondary.account(REGION))
    held = [primary.admit("a", None), other.admit("b", None), other.admit("b", None)]
    assert _reason(primary, "c", None) == ACCOUNT_LIMIT
    assert _reason(other, "c", 10) == ACCOUNT_LIMIT  # a reservation does not lift it
    assert (primary.total, other.total, primary.unreserved_in_flight) == (3, 3, 3)
    assert (primary.in_flight("b"), other.in_flight("b")) == (0, 2)  # per function: local
    other.release(held.pop())
    assert _reason(primary, "c", 10) is None
    assert primary.total == 3 and primary.unreserved_in_flight == 2


def test_the_unreserved_pool_holds_over_both_processes(
    counters: SharedCounters, secondary: SharedCounters
) -> None:
    primary = ConcurrencyLimiter(10, shared=counters.account(REGION))
    other = ConcurrencyLimiter(10, shared=secondary.account(REGION))
    primary.unreserved_pool = other.unreserved_pool = 2
    other.admit("a", None)
    other.admit("b", None)
    assert _reason(primary, "c", None) == ACCOUNT_LIMIT
    assert primary.total == 2  # the refused take took nothing, not even of the total
    # Reserved and provisioned invocations draw from the account limit only.
    reserved = primary.admit("r", 5)
    provisioned = primary.admit("p", None, Provisioned("live", 1))
    assert provisioned.provisioned == "live"
    assert (primary.total, primary.unreserved_in_flight) == (4, 2)
    primary.release(reserved)
    primary.release(provisioned)
    assert (other.total, other.unreserved_in_flight) == (2, 2)


def test_a_reservation_is_counted_in_its_own_process(counters: SharedCounters) -> None:
    limiter = ConcurrencyLimiter(100, shared=counters.account(REGION))
    first = limiter.admit("a", 1)
    assert _reason(limiter, "a", 1) == RESERVED_LIMIT
    limiter.release(first)
    assert limiter.total == 0 and limiter.in_flight("a") == 0


def test_regions_have_their_own_limits_in_the_same_file(
    counters: SharedCounters, secondary: SharedCounters
) -> None:
    east = ConcurrencyLimiter(1, shared=counters.account(REGION))
    west = east.in_region("us-west-2")
    other_west = ConcurrencyLimiter(1, shared=secondary.account(REGION)).in_region("us-west-2")
    east.admit("a", None)
    west.admit("a", None)
    assert _reason(other_west, "b", None) == ACCOUNT_LIMIT
    assert (east.total, west.total, other_west.total) == (1, 1, 1)
    assert ConcurrencyLimiter(1).in_region("us-west-2").shared is None


def test_a_dead_secondarys_share_frees_when_its_slot_is_cleared(
    counters: SharedCounters, secondary: SharedCounters
) -> None:
    primary = ConcurrencyLimiter(2, shared=counters.account(REGION))
    other = ConcurrencyLimiter(2, shared=secondary.account(REGION))
    other.admit("a", None)
    other.admit("a", None)
    assert _reason(primary, "b", None) == ACCOUNT_LIMIT
    counters.clear_slot(1)  # the secondary died; its environments are gone
    assert _reason(primary, "b", None) is None


def test_with_one_process_a_backend_changes_no_outcome(counters: SharedCounters) -> None:
    """The same random admissions and releases, with and without a backend."""
    plain = ConcurrencyLimiter(6)
    shared = ConcurrencyLimiter(6, shared=counters.account(REGION))
    plain.unreserved_pool = shared.unreserved_pool = 4
    rng = random.Random(13)
    held: list[tuple[Admission, Admission]] = []
    for _ in range(2000):
        if held and rng.random() < 0.45:
            a, b = held.pop(rng.randrange(len(held)))
            plain.release(a)
            shared.release(b)
        else:
            name = rng.choice("abc")
            reserved = {"a": None, "b": 2, "c": None}[name]
            provisioned = Provisioned("live", 1) if rng.random() < 0.3 else None
            outcomes: list[Admission | str] = []
            for limiter in (plain, shared):
                try:
                    outcomes.append(limiter.admit(name, reserved, provisioned))
                except Throttled as e:
                    outcomes.append(e.reason)
            assert outcomes[0] == outcomes[1]
            if isinstance(outcomes[0], Admission) and isinstance(outcomes[1], Admission):
                held.append((outcomes[0], outcomes[1]))
        assert (plain.total, plain.unreserved_in_flight) == (
            shared.total,
            shared.unreserved_in_flight,
        )
        assert plain.in_flight_by_function() == shared.in_flight_by_function()
