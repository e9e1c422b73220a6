"""Ready environments: sandboxes with a runtime already started, waiting for their function.

Why: most of a cold start is not the function's. Building the sandbox
(namespaces, mounts, cgroup) and starting two interpreters (init and the
runtime, with its bootstrap imported) cost ~50 ms, the same for every function
of a runtime. A ready environment has done all of that off the request path:
its sandbox was started through the same backend, with the same bwrap
namespaces, seccomp filter, uid, rlimits and cgroup as any other, only with
/var/task and /opt left as empty mount points. A cold start that finds one
mounts the function's code and layers there (read-only, `sandbox/late_mounts.py`),
applies the function's memory and CPU limits, and hands the waiting runtime its
variables: Init (the handler's import) is then all that is left.

Why not a zygote that forks a pre-imported interpreter into fresh namespaces:
it would rebuild bwrap's isolation (user/pid/mount namespaces, pivot_root,
seccomp, capabilities) in new code; a ready environment keeps today's, built
by the same code path, so its isolation is exactly as strong.

Which runtimes: those cold-started lately (`want`), up to `max_runtimes`, each
with `per_runtime` environments kept ready. A runtime or function that does
not fit (another family, an exec wrapper, PYTHON* variables, another network
mode or /tmp size: see `runtimes.launch.misfit`) starts the usual way, and the
launcher says why in the server log.
"""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from lambdad.background import stopping
from lambdad.pool.adoption import ParkedEnvironment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadyKey:
    """What a ready environment was started for (what its function must match)."""

    runtime: str
    ephemeral_storage_mb: int


Park = Callable[[ReadyKey], Awaitable[ParkedEnvironment]]
"""Starts one parked environment for a key (`ParkedEnvironment.park`)."""


class ReadyEnvironments:
    """Keeps parked environments per runtime, refilled in the background by `run`."""

    def __init__(self, park: Park, per_runtime: int = 1, max_runtimes: int = 4) -> None:
        self._park = park
        self.per_runtime = per_runtime
        self.max_runtimes = max_runtimes
        self._ready: dict[ReadyKey, collections.deque[ParkedEnvironment]] = {}
        self._wanted: collections.OrderedDict[ReadyKey, None] = collections.OrderedDict()
        self._wake = anyio.Event()
        self._closed = False
        self._failures = 0

    async def take(self, key: ReadyKey) -> ParkedEnvironment | None:
        """A live parked environment for `key` (it is the caller's now), or None."""
        envs = self._ready.get(key)
        while envs:
            env = envs.popleft()
            if env.is_alive():
                return env
            await self._discard(env, "died while parked")
        return None

    async def put_back(self, key: ReadyKey, env: ParkedEnvironment) -> None:
        """An environment taken but not adopted (its function did not fit)."""
        if self._closed or not env.is_alive():
            await self._discard(env, "not reusable")
            return
        self._ready.setdefault(key, collections.deque()).appendleft(env)

    async def want(self, key: ReadyKey) -> None:
        """Keep environments ready for `key` (the least lately wanted runtime beyond
        `max_runtimes` is given up), parking what is missing in the background: call
        it once a cold start is over, so that parking never slows one down."""
        if self.per_runtime <= 0 or self._closed:
            return
        self._wanted[key] = None
        self._wanted.move_to_end(key)
        while len(self._wanted) > self.max_runtimes:
            dropped, _ = self._wanted.popitem(last=False)
            for env in self._ready.pop(dropped, ()):
                await self._discard(env, "runtime no longer wanted")
        self._wake.set()

    def count(self, key: ReadyKey | None = None) -> int:
        return sum(len(v) for k, v in self._ready.items() if key is None or k == key)

    async def run(self) -> None:
        """Refill what was taken, one environment at a time (cancel to stop)."""
        while not self._closed:
            await self._wake.wait()
            self._wake = anyio.Event()
            try:
                await self._refill()
                self._failures = 0
            except Exception as exc:
                if self._closed or stopping():
                    # The backend shut down under a park in progress: not a fault.
                    log.info("ready environments: parking stopped with the server (%r)", exc)
                    return
                log.exception("ready environments: cannot park one")
                # A host that refuses keeps failing: back off, up to a minute.
                self._failures += 1
                await anyio.sleep(min(60.0, 0.5 * math.pow(2, self._failures)))
                self._wake.set()

    async def _refill(self) -> None:
        for key in list(self._wanted):
            while (
                not self._closed
                and key in self._wanted
                and len(self._ready.get(key, ())) < self.per_runtime
            ):
                started = time.monotonic()
                env = await self._park(key)
                if self._closed or key not in self._wanted:
                    await env.destroy("not wanted any more")
                    return
                self._ready.setdefault(key, collections.deque()).append(env)
                log.info(
                    "ready environments: %s parked for %s in %.1f ms",
                    env.spec.env_id, key.runtime, (time.monotonic() - started) * 1000,
                )  # fmt: skip

    async def close(self) -> None:
        self._closed = True
        with anyio.CancelScope(shield=True):
            for envs in self._ready.values():
                for env in envs:
                    await env.destroy("server stopping")
        self._ready.clear()

    async def _discard(self, env: ParkedEnvironment, reason: str) -> None:
        log.info("ready environments: %s discarded (%s)", env.spec.env_id, reason)
        await env.destroy(reason)
        self._wake.set()
