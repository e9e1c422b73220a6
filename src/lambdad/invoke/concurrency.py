"""Concurrency accounting: in-flight invocations per function and per account.

Over a limit, Lambda throttles rather than queues: 429 TooManyRequestsException
with the reason that says which limit (`Throttled`).

    function with a reservation      in flight < reserved, or
                                     ReservedFunctionConcurrentInvocationLimitExceeded
    provisioned qualifier            first takes one of its provisioned environments
    function without a reservation   on-demand in flight (all such functions together)
                                     < the unreserved pool, or
                                     ConcurrentInvocationLimitExceeded

Provisioned invocations count against the function's reservation (they are part
of it), never against the unreserved pool: their share was taken out of the
pool when the config was made.

With several server processes (`--workers N`) the two account-wide counts (in
flight in the region, and on demand of unreserved functions) must hold over all
of them: a limiter given a `shared` backend (`workers.SharedAccount`) checks and
takes those two there, atomically, and keeps only the per-function and
provisioned counts itself (functions with a reservation or provisioned
concurrency run in one process only). Without one it counts everything itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from lambdad.errors import Throttled

RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"


@dataclass(frozen=True)
class Provisioned:
    """The provisioned concurrency an invoke's qualifier has (alias or version)."""

    qualifier: str
    count: int


@dataclass(frozen=True)
class Admission:
    """What an admitted invocation holds: `provisioned` names the qualifier whose
    provisioned environment it should run in, None for on-demand."""

    function_name: str
    provisioned: str | None
    from_unreserved_pool: bool = False


class SharedAccountCounts(Protocol):
    """A region's account-wide counts over several processes (`workers.SharedAccount`)."""

    def in_region(self, region: str) -> SharedAccountCounts: ...

    def try_take(self, account_limit: int, unreserved_pool: int | None) -> bool:
        """One more in flight if the total is under `account_limit` and (unless None)
        the unreserved count under `unreserved_pool`, atomically; False takes nothing."""
        ...

    def give_back(self, unreserved: bool) -> None: ...

    @property
    def total(self) -> int: ...

    @property
    def unreserved(self) -> int: ...


class ConcurrencyLimiter:
    def __init__(self, account_limit: int, shared: SharedAccountCounts | None = None) -> None:
        self.account_limit = account_limit
        self.shared = shared
        self.unreserved_pool = account_limit
        """The account limit less reservations and unreserved functions' provisioned
        concurrency; kept current by the concurrency catalog's change listener."""
        self._in_flight: Counter[str] = Counter()
        self._total = 0
        self._on_demand_unreserved = 0
        self._provisioned: Counter[tuple[str, str]] = Counter()

    def in_region(self, region: str) -> ConcurrencyLimiter:
        """A limiter of `region`'s invocations (AWS's account limit is per region)."""
        shared = self.shared
        return ConcurrencyLimiter(
            self.account_limit, None if shared is None else shared.in_region(region)
        )

    @property
    def total(self) -> int:
        """Invocations in flight in the region (over every process with a backend)."""
        if self.shared is not None:
            return self.shared.total
        return self._total

    def in_flight(self, function_name: str) -> int:
        return self._in_flight[function_name]

    def in_flight_by_function(self) -> dict[str, int]:
        return dict(self._in_flight)

    @property
    def unreserved_in_flight(self) -> int:
        """On-demand invocations of functions without a reservation, in flight (over
        every process with a backend)."""
        if self.shared is not None:
            return self.shared.unreserved
        return self._on_demand_unreserved

    def provisioned_in_flight(self, function_name: str, qualifier: str) -> int:
        return self._provisioned[(function_name, qualifier)]

    @contextmanager
    def slot(
        self,
        function_name: str,
        reserved: int | None,
        provisioned: Provisioned | None = None,
    ) -> Iterator[Admission]:
        """Hold one unit of concurrency for the duration of an invocation."""
        admission = self.admit(function_name, reserved, provisioned)
        try:
            yield admission
        finally:
            self.release(admission)

    def admit(
        self, function_name: str, reserved: int | None, provisioned: Provisioned | None = None
    ) -> Admission:
        """Take one unit of concurrency (Throttled when over a limit); the caller must
        `release` it when the invocation ends (`slot` pairs them)."""
        if reserved is not None and self._in_flight[function_name] >= reserved:
            raise Throttled(RESERVED_LIMIT)
        if self.shared is not None:
            return self._admit_shared(self.shared, function_name, reserved, provisioned)
        if self._total >= self.account_limit:
            raise Throttled(ACCOUNT_LIMIT)
        if provisioned is not None:
            key = (function_name, provisioned.qualifier)
            if self._provisioned[key] < provisioned.count:
                self._provisioned[key] += 1
                self._in_flight[function_name] += 1
                self._total += 1
                return Admission(function_name, provisioned.qualifier)
        if reserved is None:
            if self._on_demand_unreserved >= self.unreserved_pool:
                raise Throttled(ACCOUNT_LIMIT)
            self._on_demand_unreserved += 1
        self._in_flight[function_name] += 1
        self._total += 1
        return Admission(function_name, None, from_unreserved_pool=reserved is None)

    def _admit_shared(
        self,
        shared: SharedAccountCounts,
        function_name: str,
        reserved: int | None,
        provisioned: Provisioned | None,
    ) -> Admission:
        """`admit`'s account-wide checks made on the backend, with the same outcome
        (both of them throttle with ConcurrentInvocationLimitExceeded)."""
        if provisioned is not None:
            key = (function_name, provisioned.qualifier)
            if self._provisioned[key] < provisioned.count:
                if not shared.try_take(self.account_limit, None):
                    raise Throttled(ACCOUNT_LIMIT)
                self._provisioned[key] += 1
                self._in_flight[function_name] += 1
                self._total += 1
                return Admission(function_name, provisioned.qualifier)
        pool = self.unreserved_pool if reserved is None else None
        if not shared.try_take(self.account_limit, pool):
            raise Throttled(ACCOUNT_LIMIT)
        if reserved is None:
            self._on_demand_unreserved += 1
        self._in_flight[function_name] += 1
        self._total += 1
        return Admission(function_name, None, from_unreserved_pool=reserved is None)

    def release(self, admission: Admission) -> None:
        if self.shared is not None:
            self.shared.give_back(admission.from_unreserved_pool)
        name = admission.function_name
        if admission.provisioned is not None:
            key = (name, admission.provisioned)
            self._provisioned[key] -= 1
            if not self._provisioned[key]:
                del self._provisioned[key]
        elif admission.from_unreserved_pool:
            self._on_demand_unreserved -= 1
        self._in_flight[name] -= 1
        self._total -= 1
        if not self._in_flight[name]:
            del self._in_flight[name]
