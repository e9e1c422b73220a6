"""Concurrency accounting: in-flight invocations per function and per account.

Over a limit, Lambda throttles rather than queues: 429 TooManyRequestsException.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from lambdad.errors import TooManyRequests

RATE_EXCEEDED = "Rate Exceeded."


class ConcurrencyLimiter:
    def __init__(self, account_limit: int) -> None:
        self.account_limit = account_limit
        self._in_flight: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self._in_flight.values())

    def in_flight(self, function_name: str) -> int:
        return self._in_flight[function_name]

    @contextmanager
    def slot(self, function_name: str, reserved: int | None) -> Iterator[None]:
        """Hold one unit of concurrency for the duration of an invocation."""
        if reserved is not None and self._in_flight[function_name] >= reserved:
            raise TooManyRequests(
                RATE_EXCEEDED, reason="ReservedFunctionConcurrentInvocationLimitExceeded"
            )
        if self.total >= self.account_limit:
            raise TooManyRequests(RATE_EXCEEDED, reason="ConcurrentInvocationLimitExceeded")
        self._in_flight[function_name] += 1
        try:
            yield
        finally:
            self._in_flight[function_name] -= 1
            if not self._in_flight[function_name]:
                del self._in_flight[function_name]
