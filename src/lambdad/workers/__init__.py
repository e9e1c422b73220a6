"""Several server processes serving one port (`lambdad server --workers N`).

`shared_limits`: the account-wide concurrency counts every process checks.
"""

from lambdad.workers.shared_limits import (
    SharedAccount,
    SharedCounters,
    SharedCountersError,
    SharedCountersHandle,
)

__all__ = ["SharedAccount", "SharedCounters", "SharedCountersError", "SharedCountersHandle"]
