"""Several server processes serving one port (`lambdad server --workers N`).

`shared_limits`: the account-wide concurrency counts every process checks.
`live_tail_relay`: a secondary's stored log events, relayed to the primary's
Live Tail sessions.
"""

from lambdad.workers.live_tail_relay import LiveTailPublisher, LiveTailReceiver
from lambdad.workers.shared_limits import (
    SharedAccount,
    SharedCounters,
    SharedCountersError,
    SharedCountersHandle,
)

__all__ = [
    "LiveTailPublisher",
    "LiveTailReceiver",
    "SharedAccount",
    "SharedCounters",
    "SharedCountersError",
    "SharedCountersHandle",
]
