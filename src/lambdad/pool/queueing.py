"""Queueing behind busy environments: a burst beyond the warm environments waits
briefly for one of them to free up instead of cold-starting a crowd.

AWS scales out: each concurrent request without an idle environment gets a new
one. On one box that is the wrong trade when the function is quick: a burst of
16 requests to a function with 4 warm environments and a 5 ms handler would
start 12 environments at once, each paying a cold start (tens to hundreds of
ms, and all of them sharing the same few cores), while the 4 warm ones free up
every few milliseconds. So the pool queues a request when waiting is expected
to be quicker than a cold start, and scales out as AWS does otherwise.

The policy, decided when a request finds no idle environment of its version:
- Estimates, per function (unqualified ARN), as exponentially weighted moving
  averages of what was seen lately (`Estimates`): how long an invocation keeps
  an environment busy (from hand-out to release), and how long a cold start of
  it takes (the start of the environment, Init included).
- The wait a new request would have: its place in the line (the requests
  already waiting for this version) among the busy on-demand environments'
  expected releases (`expected_wait`). Releases go to the line in order (FIFO),
  so the k-th waiter gets the k-th release.
- Busy environments whose CPU share ran out since the line last looked (the
  kernel throttled their cgroup: `Sandbox.cpu_throttles`) are not waited for:
  queueing more invocations on one environment puts them all on its share
  (7% of a core at 128 MB), where on Lambda each would run in an environment of
  its own with a share of its own. A quick function at a high rate would
  otherwise stall in its throttled periods (up to the rest of 100 ms each) while
  the queue kept growing on it; with no other busy one, it scales out.
- It waits when that expected wait is shorter than the cold start estimate, and
  than the operator's bound (`queue_wait_max_s`) and the function's timeout; it
  waits at most that long (`bound`). Otherwise, and with no estimate yet (the
  first burst of a function always scales out), it cold-starts at once.
- A waiter is never stranded: past its bound it leaves the line and cold-starts
  (so its latency is at worst about twice a cold start, in expectation less);
  when the environment it waited for is destroyed instead of released (an
  error, a code change, too old to reuse), the head of the line is told to
  cold-start at once, taking its place.
- Limits are never exceeded: a waiter was admitted (it holds its unit of
  concurrency while it waits, as an invocation in flight does), and waiting
  only ever starts fewer environments than scaling out would.

Why not start a cold start beside the wait and take whichever is first: on a
box whose cores the burst already saturates, the spare cold starts are the
crowd this avoids; and a cold start that loses would still cost its CPU.
Provisioned environments are not queued for: an invocation admitted onto
provisioned concurrency takes one of its qualifier's, and spill-over above it
queues only for on-demand environments, as the pool hands them out.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from lambdad.pool.pool import Lease, PoolKey

EWMA_WEIGHT = 0.3
"""The weight of the newest sample: about the last 5 samples count."""


@dataclass
class Ewma:
    """An exponentially weighted moving average; None until its first sample."""

    weight: float = EWMA_WEIGHT
    value: float | None = None

    def add(self, sample: float) -> None:
        sample = max(0.0, sample)
        if self.value is None:
            self.value = sample
        else:
            self.value += self.weight * (sample - self.value)


@dataclass
class Estimates:
    """Recent invocation and cold start durations (seconds) per function."""

    busy: dict[str, Ewma] = field(default_factory=dict)
    cold: dict[str, Ewma] = field(default_factory=dict)

    def invoked(self, function_arn: str, seconds: float) -> None:
        self.busy.setdefault(function_arn, Ewma()).add(seconds)

    def started(self, function_arn: str, seconds: float) -> None:
        self.cold.setdefault(function_arn, Ewma()).add(seconds)

    def duration(self, function_arn: str) -> float | None:
        found = self.busy.get(function_arn)
        return None if found is None else found.value

    def cold_start(self, function_arn: str) -> float | None:
        found = self.cold.get(function_arn)
        return None if found is None else found.value

    def forget(self, function_arn: str) -> None:
        """A deleted function's estimates (a new one of its name starts afresh)."""
        self.busy.pop(function_arn, None)
        self.cold.pop(function_arn, None)


def expected_wait(busy_for: list[float], position: int, duration: float) -> float:
    """When the waiter at `position` (0: the head of the line) is expected to get an
    environment, in seconds from now: `busy_for` is how long each busy environment
    has been busy, `duration` how long an invocation takes.

    Each environment frees up `duration` after it was handed out; one busy past
    that is expected to take another `duration` (it is slower than usual, and
    how much is unknown). Releases then come round by round: the k-th waiter
    gets the (k mod n)-th earliest release of round k // n."""
    if not busy_for:
        return float("inf")
    left = sorted(duration - since if since < duration else duration for since in busy_for)
    rounds, index = divmod(position, len(left))
    return left[index] + rounds * duration


def wait_bound(
    expected: float, cold_start: float, queue_wait_max_s: float, timeout_s: float
) -> float | None:
    """How long a waiter may wait, or None: cold-start now (waiting is not expected
    to be quicker than a cold start, or than the operator's and the function's bounds)."""
    bound = min(cold_start, queue_wait_max_s, timeout_s)
    return bound if expected < bound else None


@dataclass(eq=False)
class Waiter:
    """One invocation waiting in line for a busy environment of its version."""

    key: PoolKey
    served: anyio.Event = field(default_factory=anyio.Event)
    lease: Lease | None = None
    """The environment handed over; None once served: cold-start now."""


class Lines:
    """The waiters of each version, first come first served.

    Every method is synchronous: on the one event loop, a waiter's leaving and a
    release's hand-over never interleave, so a handed lease is never lost."""

    def __init__(self) -> None:
        self._lines: dict[PoolKey, collections.deque[Waiter]] = {}

    def length(self, key: PoolKey) -> int:
        return len(self._lines.get(key, ()))

    def waiting(self, function_arn: str | None = None) -> int:
        """Waiters of one function's versions, or of all."""
        return sum(
            len(line)
            for key, line in self._lines.items()
            if function_arn is None or key.function_arn == function_arn
        )

    def join(self, key: PoolKey) -> Waiter:
        waiter = Waiter(key)
        self._lines.setdefault(key, collections.deque()).append(waiter)
        return waiter

    def serve(self, key: PoolKey, lease: Lease | None) -> bool:
        """Hand `lease` to the head of `key`'s line (None: tell it to cold-start);
        False when nobody waits."""
        line = self._lines.get(key)
        if not line:
            return False
        waiter = line.popleft()
        if not line:
            del self._lines[key]
        waiter.lease = lease
        waiter.served.set()
        return True

    def leave(self, waiter: Waiter) -> Lease | None:
        """Take `waiter` out of its line; what it was handed, if it was served."""
        line = self._lines.get(waiter.key)
        if line is not None and waiter in line:
            line.remove(waiter)
            if not line:
                del self._lines[waiter.key]
            return None
        return waiter.lease

    def dismiss_all(self) -> None:
        """Every waiter cold-starts now (the pool is closing)."""
        for key in list(self._lines):
            while self.serve(key, None):
                pass
