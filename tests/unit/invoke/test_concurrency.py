import pytest

from lambdad.errors import Throttled, TooManyRequests
from lambdad.invoke import ConcurrencyLimiter
from lambdad.invoke.concurrency import Provisioned


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


def test_provisioned_invocations_come_first_then_spill_over_on_demand() -> None:
    limiter = ConcurrencyLimiter(account_limit=1000)
    share = Provisioned("live", 1)
    with limiter.slot("a", None, share) as first:
        assert first.provisioned == "live"
        with limiter.slot("a", None, share) as second:
            assert second.provisioned is None
            assert limiter.in_flight("a") == 2
    with limiter.slot("a", None, share) as again:
        assert again.provisioned == "live"


def test_provisioned_counts_inside_the_reservation() -> None:
    limiter = ConcurrencyLimiter(account_limit=1000)
    with limiter.slot("a", 1, Provisioned("1", 1)):
        with pytest.raises(Throttled) as throttled:
            with limiter.slot("a", 1, Provisioned("1", 1)):
                pass
        assert throttled.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_unreserved_functions_share_the_unreserved_pool() -> None:
    limiter = ConcurrencyLimiter(account_limit=1000)
    limiter.unreserved_pool = 1
    with limiter.slot("a", None):
        with pytest.raises(Throttled) as throttled:
            with limiter.slot("b", None):
                pass
        assert throttled.value.reason == "ConcurrentInvocationLimitExceeded"
        # A function with a reservation does not draw from the pool.
        with limiter.slot("c", 5):
            pass
        # Nor does a provisioned invocation: its share left the pool with its config.
        with limiter.slot("d", None, Provisioned("1", 1)) as admission:
            assert admission.provisioned == "1"


def test_in_flight_counts_follow_admissions_and_releases() -> None:
    limiter = ConcurrencyLimiter(account_limit=3)
    first = limiter.admit("a", None, Provisioned("live", 1))
    second = limiter.admit("a", 5)
    third = limiter.admit("b", None)
    assert (limiter.total, limiter.in_flight("a"), limiter.unreserved_in_flight) == (3, 2, 1)
    with pytest.raises(Throttled):
        limiter.admit("c", None)
    assert limiter.total == 3  # a refusal takes nothing
    for admission in (first, second, third):
        limiter.release(admission)
    assert (limiter.total, limiter.in_flight("a"), limiter.unreserved_in_flight) == (0, 0, 0)
