"""Recording what the workload uses, durably and off the invocation's path.

`UsageRecorder.record` is called once per invocation with its REPORT figures
(billed duration, memory size) and does nothing but add them to the buffer's
group of that function version, price class and day (how many, billed ms
summed: costs are summed so, and a row per invocation cost each invocation an
insert and the store a row); `run` writes the buffer's groups (every
`flush_interval_s`, or sooner once `BATCH` invocations are waiting), samples each
provisioned concurrency config once a `sample_interval_s` (its configured
concurrency for the time since the last sample: what AWS bills provisioned
concurrency for), and deletes usage older than `retention_days` once an hour.
The buffer holds at most `max_buffered` invocations: past that (a database that
stopped taking writes) further ones are counted and dropped, with a warning.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import anyio

from lambdad.catalog import ProvisionedTarget, Version
from lambdad.concurrency import run_sync
from lambdad.store import InvocationRecord, ProvisionedSample, UsageStore

log = logging.getLogger(__name__)

BATCH = 1000
MAX_BUFFERED = 100_000
DEFAULT_RETENTION_DAYS = 400
"""Long enough for this month and last year's same month; bounded all the same."""
SWEEP_INTERVAL_S = 3600.0
ProvisionedTargets = Callable[[], Awaitable[Sequence[ProvisionedTarget]]]
_GroupKey = tuple[str, str, str, str, int, str, bool, bool]
"""(region, function name, version, UTC day, memory MB, architecture, provisioned,
restored from a SnapStart snapshot)"""
_Group = list[float]
"""[invocations, billed ms summed, when the last ended]"""


def utc_day(epoch: float) -> str:
    """The UTC day of `epoch` as YYYY-MM-DD (every invocation asks: a day's text is kept)."""
    return _day_text(int(epoch // 86400))


@functools.lru_cache(maxsize=4)
def _day_text(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")


class UsageRecorder:
    def __init__(
        self,
        store: UsageStore,
        *,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        flush_interval_s: float = 1.0,
        sample_interval_s: float = 60.0,
        max_buffered: int = MAX_BUFFERED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.retention_days = retention_days
        self.flush_interval_s = flush_interval_s
        self.sample_interval_s = sample_interval_s
        self.max_buffered = max_buffered
        self.clock = clock
        self._buffer: dict[_GroupKey, _Group] = {}
        self._buffered = 0  # invocations in the buffer
        self._dropped = 0
        self._wake: anyio.Event | None = None  # made in the loop (`run`)
        self._writing = anyio.Lock()

    def record(
        self,
        region: str,
        version: Version,
        billed_ms: int,
        provisioned: bool,
        restored: bool = False,
    ) -> None:
        """One invocation's usage (its REPORT's billed duration and memory size; whether
        its environment was restored for it from a SnapStart snapshot)."""
        if self._buffered >= self.max_buffered:
            self._dropped += 1
            return
        now = self.clock()
        config = version.config
        key = (
            region,
            version.function_name,
            version.version,
            utc_day(now),
            config.memory_size,
            config.architectures[0] if config.architectures else "x86_64",
            provisioned,
            restored,
        )
        group = self._buffer.get(key)
        if group is None:
            self._buffer[key] = [1, billed_ms, now]
        else:
            group[0] += 1
            group[1] += billed_ms
            group[2] = now
        self._buffered += 1
        if self._buffered >= BATCH and self._wake is not None:
            self._wake.set()

    async def flush(self, samples: Sequence[ProvisionedSample] = ()) -> None:
        """Write what is buffered (and `samples`) now."""
        async with self._writing:
            groups, self._buffer, self._buffered = self._buffer, {}, 0
            batch = [
                InvocationRecord(
                    region=region,
                    function_name=function_name,
                    version=version,
                    day=day,
                    ended_at=float(ended_at),
                    billed_ms=int(billed_ms),
                    memory_mb=memory_mb,
                    architecture=architecture,
                    provisioned=provisioned,
                    invocations=int(invocations),
                    restored=restored,
                )
                for (
                    region,
                    function_name,
                    version,
                    day,
                    memory_mb,
                    architecture,
                    provisioned,
                    restored,
                ), (invocations, billed_ms, ended_at) in groups.items()
            ]
            if batch or samples:
                try:
                    await run_sync(self.store.add, batch, samples)
                except BaseException:
                    self._put_back(groups)  # written by the next flush, with what came since
                    raise
        if self._dropped:
            log.warning("usage: %d invocations not recorded (the buffer was full)", self._dropped)
            self._dropped = 0

    def _put_back(self, groups: dict[_GroupKey, _Group]) -> None:
        for key, (invocations, billed_ms, ended_at) in groups.items():
            group = self._buffer.get(key)
            if group is None:
                self._buffer[key] = [invocations, billed_ms, ended_at]
            else:
                group[0] += invocations
                group[1] += billed_ms
                group[2] = max(group[2], ended_at)
            self._buffered += int(invocations)

    async def run(self, provisioned_targets: ProvisionedTargets) -> None:
        """The writer loop: flush, sample provisioned concurrency, sweep old usage."""
        last_sample = last_sweep = self.clock()
        while True:
            self._wake = wake = anyio.Event()
            with anyio.move_on_after(self.flush_interval_s):
                await wake.wait()
            now = self.clock()
            samples: list[ProvisionedSample] = []
            try:
                sampling = now - last_sample >= self.sample_interval_s
                if sampling:
                    seconds = min(now - last_sample, 2 * self.sample_interval_s)
                    samples = self.samples(await provisioned_targets(), seconds, now)
                await self.flush(samples)
                if sampling:  # written: a failed write's seconds go with the next sample
                    last_sample = now
                if now - last_sweep >= SWEEP_INTERVAL_S:
                    await self.sweep(now)
                    last_sweep = now
            except Exception:
                log.exception("usage: recording failed (retried at the next interval)")

    async def sweep(self, now: float) -> None:
        gone = await run_sync(self.store.delete_before, now - self.retention_days * 86400)
        if gone:
            log.info("usage: %d rows past the %g-day retention deleted", gone, self.retention_days)

    def samples(
        self, targets: Sequence[ProvisionedTarget], seconds: float, now: float
    ) -> list[ProvisionedSample]:
        """Each provisioned concurrency config's concurrency over the last `seconds`."""
        return [
            ProvisionedSample(
                region=t.version.function_arn.split(":")[3],
                function_name=t.config.function_name,
                qualifier=t.config.qualifier,
                day=utc_day(now),
                ended_at=now,
                seconds=seconds,
                concurrency=t.config.requested,
                memory_mb=t.version.config.memory_size,
                architecture=(t.version.config.architectures or ("x86_64",))[0],
            )
            for t in targets
            if t.config.requested > 0
        ]
