"""What a secondary serves itself, and what goes to the primary.

A secondary runs an invocation itself only where every account of it stays exact
in one process per function: a synchronous Invoke (RequestResponse, or DryRun) of
a function with no reserved concurrency and no provisioned concurrency config, of
a version that is not a SnapStart version. Everything else goes to the primary.

The decision has two steps, both cheap:

1. `serves_locally(scope)`, before anything is read or checked: the request is an
   Invoke (the path `DirectInvoke` serves, method POST) whose invocation type is
   RequestResponse or DryRun (the header absent counts as RequestResponse). Any
   other request is forwarded untouched: the primary checks its signature.
2. `Gate.check(target)`, once the invocation's target is resolved (from the
   invoker's version cache): its function's reserved concurrency and SnapStart
   are on the target already; whether the function has any provisioned
   concurrency config is kept per function, and dropped by the change bus's
   events (the catalog's and concurrency settings' listeners). A target that must
   not run here raises `ForwardToPrimary`, which `forward.ForwardOnGate` turns
   into the same request, replayed to the primary.
"""

from __future__ import annotations

from starlette.types import Scope

from lambdad.api.direct_invoke import invoked_function
from lambdad.catalog import ConcurrencyCatalog
from lambdad.concurrency import run_sync
from lambdad.invoke.version_cache import Resolved

LOCAL_INVOCATION_TYPES = frozenset({b"RequestResponse", b"DryRun"})
_INVOCATION_TYPE = b"x-amz-invocation-type"
SNAPSTART_ON = "PublishedVersions"


class ForwardToPrimary(BaseException):
    """Raised on a secondary's Invoke path when the request must be served by the
    primary. A BaseException: the handlers' `except Exception` (which render a 500)
    let it through to `forward.ForwardOnGate`, which forwards the request. Nothing
    has been admitted, acquired or answered when it is raised."""


def serves_locally(scope: Scope) -> bool:
    """Step 1 (see the module doc): whether the request may be served here at all."""
    if scope["type"] != "http" or invoked_function(scope) is None:
        return False
    for name, value in scope["headers"]:
        if name.lower() == _INVOCATION_TYPE:  # the first one counts, as `first_headers`
            return bytes(value) in LOCAL_INVOCATION_TYPES
    return True


class Gate:
    """Step 2: whether a resolved target runs here; per function, whether it has a
    provisioned concurrency config (by region and name)."""

    def __init__(self, concurrency: ConcurrencyCatalog) -> None:
        self.concurrency = concurrency
        self._provisioned: dict[tuple[str, str], bool] = {}
        self._changes = 0
        """Counts `forget`s: an answer read across one is used once, not kept."""

    async def check(self, region: str, target: Resolved) -> None:
        """Raises ForwardToPrimary unless `target` runs here."""
        version = target.version
        if target.reserved_concurrency is not None or target.provisioned is not None:
            raise ForwardToPrimary
        if version.config.snap_start == SNAPSTART_ON:
            raise ForwardToPrimary
        key = (region, version.function_name)
        provisioned = self._provisioned.get(key)
        if provisioned is None:
            changes = self._changes
            store = self.concurrency.in_region(region).store
            provisioned = bool(await run_sync(store.list_provisioned, version.function_name))
            if changes == self._changes:
                self._provisioned[key] = provisioned
        if provisioned:
            raise ForwardToPrimary

    async def forget(self, function_name: str) -> None:
        """The catalog's and concurrency settings' change listener."""
        self._changes += 1
        for key in [k for k in self._provisioned if k[1] == function_name]:
            del self._provisioned[key]
