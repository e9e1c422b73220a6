"""`lambdad server --workers N`: several server processes serving one port.

One server process tops out at one core (its GIL: about 600 µs of server CPU per
warm invoke). With N > 1, the process `lambdad server` runs is the **primary**: it
does everything a single server does (control plane, catalog writes, async queue,
schedules, event source mappings, provisioned concurrency, SnapStart, Live Tail,
/metrics). It starts N-1 **secondaries** (`supervisor.py`, `secondary.py`), fresh
interpreters. The primary alone accepts on the TCP port and gives each new
connection to the process with the fewest open ones (`balance.py`: it serves its
own share, and hands the others' over a UNIX socket with SCM_RIGHTS,
`handoff.py`, served there by uvicorn as its own, `serving.py`). A secondary
serves itself only the hot path (`gate.py`): a synchronous
Invoke of a function with no reserved or provisioned concurrency, of a version
that is not a SnapStart version, run in their own environments with their own
writers. Everything else is forwarded to the primary over a UNIX socket as the
same HTTP request, full duplex (`forward.py`, `primary_link.py`), so every
per-function account happens in one process. The primary tells every secondary
each catalog and concurrency change and waits for their acks before the call
that made it returns (`bus.py`), so a write through the primary is read by the
next invoke through any process.

What holds across processes: a secondary's own state dir, cgroup parent, code and
work dirs (`<data dir>/workers/N`), reclaimed by its own sandbox supervisor if it
dies; migrations and bootstrap run once, in the primary, before secondaries start;
the account-wide concurrency counts (the account limit, the unreserved pool) are
summed over every process (`shared_limits.py`), a secondary's stored log
events are relayed to the primary's Live Tail sessions (`live_tail_relay.py`), and
the primary's /metrics and CloudWatch queries count every process's invocations
(`metrics.py`).
"""

from lambdad.workers.balance import Balancer, pick
from lambdad.workers.bus import BusClient, ChangeBus
from lambdad.workers.forward import ForwardedClient, Forwarder, ForwardOnGate, forward_now
from lambdad.workers.gate import ForwardToPrimary, Gate, serves_locally
from lambdad.workers.handoff import HandOffReceiver
from lambdad.workers.live_tail_relay import LiveTailPublisher, LiveTailReceiver
from lambdad.workers.primary import PrimaryProcess
from lambdad.workers.secondary import (
    GatedInvoker,
    SecondaryFront,
    SecondaryProcess,
    SecondaryRole,
    bus_client,
)
from lambdad.workers.serving import Front, FrontedServer
from lambdad.workers.sessions import ForwardUnknownSessions, SessionsOfSecondaries
from lambdad.workers.shared_limits import (
    SharedAccount,
    SharedCounters,
    SharedCountersError,
    SharedCountersHandle,
)
from lambdad.workers.supervisor import Cluster, Secondaries, worker_dir

__all__ = [
    "Balancer",
    "BusClient",
    "ChangeBus",
    "Cluster",
    "ForwardOnGate",
    "ForwardToPrimary",
    "ForwardUnknownSessions",
    "ForwardedClient",
    "Forwarder",
    "Front",
    "FrontedServer",
    "Gate",
    "GatedInvoker",
    "HandOffReceiver",
    "LiveTailPublisher",
    "LiveTailReceiver",
    "PrimaryProcess",
    "SecondaryFront",
    "SecondaryProcess",
    "SecondaryRole",
    "Secondaries",
    "SessionsOfSecondaries",
    "SharedAccount",
    "SharedCounters",
    "SharedCountersError",
    "SharedCountersHandle",
    "bus_client",
    "forward_now",
    "pick",
    "serves_locally",
    "worker_dir",
]
