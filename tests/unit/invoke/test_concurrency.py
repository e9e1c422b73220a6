import pytest

from lambdad.errors import TooManyRequests
from lambdad.invoke import ConcurrencyLimiter


def test_reserved_concurrency_throttles_the_function_only() -> None:
    limiter = ConcurrencyLimiter(account_limit=10)
    with limiter.slot("a", reserved=1):
        with pytest.raises(TooManyRequests) as throttled:
            with limiter.slot("a", reserved=1):
                pass
        assert throttled.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
        with limiter.slot("b", reserved=None):
            assert limiter.total == 2
    assert limiter.total == 0


def test_account_limit_throttles_everyone_and_frees_on_exit() -> None:
    limiter = ConcurrencyLimiter(account_limit=2)
    with limiter.slot("a", None), limiter.slot("b", None):
        with pytest.raises(TooManyRequests) as throttled:
            with limiter.slot("c", None):
                pass
        assert throttled.value.reason == "ConcurrentInvocationLimitExceeded"
    with limiter.slot("c", None):
        assert limiter.in_flight("c") == 1


def test_a_failing_invocation_gives_its_slot_back() -> None:
    limiter = ConcurrencyLimiter(account_limit=1)
    with pytest.raises(RuntimeError), limiter.slot("a", None):
        raise RuntimeError("handler blew up")
    assert limiter.total == 0
