"""Account-wide concurrency counts shared by every server process (`--workers N`).

AWS's account limit and unreserved pool hold over the whole region, so with
several server processes accepting invokes each process's own count is not
enough: an invoke is admitted only if the sum over all processes is under the
limit. `SharedCounters` keeps those sums in a small file mapped by every
process:

    header   magic, the number of process slots, the primary's pid
    regions  REGIONS names (a region's counters get their row on first use)
    counts   REGIONS x KINDS rows of `slots` int64: one column per process slot

A process only ever adds to or takes from its own column, so when a process
dies its whole share is one column the primary zeroes (`clear_slot`, once the
dead process's environments are gone) without knowing what it held. Every
check-then-take happens under the file's `flock`, which makes `try_take` exact
across processes (no over-admission in any race); a give back only lowers its
own column, which needs no lock (see `give_back`).

Standard library only, chosen for what happens on a crash: `fcntl.flock` is
released by the kernel when its holder dies, even on kill -9 (a multiprocessing
semaphore held by a killed process would stay taken and wedge every other
process), and `mmap` of a file we open ourselves gives shared memory whose
mode (0600, created O_EXCL), name (random, under the directory the primary
picks: its data dir) and lifetime (unlinked by the primary's `close`) are ours.
Python 3.11's `multiprocessing.shared_memory` registers every process that
attaches with a resource tracker that unlinks the segment when that process
exits, which a restarted secondary must not do.

Cost: a take is an in-process lock, two `flock` calls and a few reads of the
mapped file; a give back the in-process lock and a write (bench/shared_limits.py
measures the pair).

    # the primary, before it starts secondaries:
    counters = SharedCounters.create(settings.data_dir, slots=workers)
    limiter = ConcurrencyLimiter(limit, shared=counters.account(settings.region))
    argv += ["--shared-counters", counters.handle(slot).to_arg()]
    ...  # a secondary in `slot` died and its environments are gone (before its
    ...  # replacement starts in the same slot):
    counters.clear_slot(slot)
    ...  # stopping:
    counters.close()  # unlinks the file

    # a secondary:
    counters = SharedCounters.open(SharedCountersHandle.from_arg(arg))
    limiter = ConcurrencyLimiter(limit, shared=counters.account(settings.region))
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import secrets
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Kind = Literal["total", "unreserved"]
KINDS: tuple[Kind, ...] = ("total", "unreserved")
"""`total`: the region's invocations in flight (the account limit's count);
`unreserved`: those of them on demand of functions without a reservation (the
unreserved pool's count)."""

REGIONS = 64
"""Rows of counters, one per region used. The last row is shared by any region
that finds no row of its own (the table full, or a name over NAME_BYTES): their
limits then hold over their sum, stricter than AWS, never looser."""
NAME_BYTES = 64
MAX_SLOTS = 256
PREFIX = "shared-limits-"
_MAGIC = b"LMDSLIM1"
_HEADER = struct.Struct("<8sqq")  # magic, slots, primary pid
_HEADER_BYTES = 64
_COUNTS_AT = _HEADER_BYTES + REGIONS * NAME_BYTES


class SharedCountersError(Exception):
    """The shared counters' file is missing, not ours, or not of this layout."""


def _size(slots: int) -> int:
    return _COUNTS_AT + REGIONS * len(KINDS) * slots * 8


@dataclass(frozen=True)
class SharedCountersHandle:
    """What a secondary needs to open the counters: the file and its own slot.
    `to_arg`/`from_arg` make it one command-line argument."""

    path: str
    slot: int

    def to_arg(self) -> str:
        return f"{self.slot}:{self.path}"

    @classmethod
    def from_arg(cls, arg: str) -> SharedCountersHandle:
        slot, sep, path = arg.partition(":")
        if not sep or not slot.isdigit() or not path:
            raise SharedCountersError(f"not a shared counters handle: {arg!r}")
        return cls(path, int(slot))


class SharedCounters:
    """Counters summed over process slots, in a file mapped by every process.

    Slot 0 is the primary's: it creates the file (`create`), hands each secondary
    a `handle(slot)`, clears a dead secondary's column (`clear_slot`) and unlinks
    the file (`close`). A secondary `open`s its handle and writes its slot only.
    A counter is a `(region, kind)` row (`counter`); `try_take`/`give_back` change
    this process's column of it, `sum` reads the total over all columns.
    """

    def __init__(self, path: Path, fd: int, slot: int, slots: int, owner: bool) -> None:
        self.path = path
        self.slot = slot
        self.slots = slots
        self._owner = owner
        self._fd = fd
        self._map = mmap.mmap(fd, _size(slots))
        self._names = memoryview(self._map)[_HEADER_BYTES:_COUNTS_AT]
        self._counts = memoryview(self._map)[_COUNTS_AT:].cast("q")
        self._thread_lock = threading.Lock()  # flock excludes processes, not threads
        self._rows: dict[tuple[str, Kind], int] = {}
        self._closed = False

    @classmethod
    def create(cls, directory: Path, slots: int) -> SharedCounters:
        """The primary's counters (slot 0) for `slots` processes, in a new file of
        `directory` (made if missing). Files left by a primary that died are removed."""
        if not 1 <= slots <= MAX_SLOTS:
            raise ValueError(f"slots must be 1..{MAX_SLOTS}, not {slots}")
        directory.mkdir(parents=True, exist_ok=True)
        _remove_stale(directory)
        path = directory / f"{PREFIX}{secrets.token_hex(16)}"
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.ftruncate(fd, _size(slots))  # zeros: every region free, every count 0
            os.pwrite(fd, _HEADER.pack(_MAGIC, slots, os.getpid()), 0)
            return cls(path, fd, 0, slots, owner=True)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise

    @classmethod
    def open(cls, handle: SharedCountersHandle) -> SharedCounters:
        """A secondary's counters, writing `handle.slot` only."""
        path = Path(handle.path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise SharedCountersError(f"cannot open {path}: {e}") from e
        try:
            magic, slots, _pid = _HEADER.unpack(os.pread(fd, _HEADER.size, 0))
            info = os.fstat(fd)
            if magic != _MAGIC or not 1 <= slots <= MAX_SLOTS or info.st_size != _size(slots):
                raise SharedCountersError(f"{path} is not a shared counters file")
            if info.st_uid != os.geteuid() or info.st_mode & 0o077:
                raise SharedCountersError(f"{path} must be ours and mode 0600")
            if not 1 <= handle.slot < slots:
                raise SharedCountersError(f"slot {handle.slot} is not a secondary's of {slots}")
            return cls(path, fd, handle.slot, slots, owner=False)
        except BaseException:
            os.close(fd)
            raise

    def handle(self, slot: int) -> SharedCountersHandle:
        """The handle of secondary `slot` (1..slots-1)."""
        self._only_owner("hand out slots")
        if not 1 <= slot < self.slots:
            raise ValueError(f"slot must be 1..{self.slots - 1}, not {slot}")
        return SharedCountersHandle(str(self.path), slot)

    def account(self, region: str) -> SharedAccount:
        """The account-wide counts of `region` (what a `ConcurrencyLimiter` takes)."""
        return SharedAccount(self, region)

    def counter(self, region: str, kind: Kind) -> int:
        """The row of `kind` in `region`, given a row on first use by any process."""
        row = self._rows.get((region, kind))
        if row is None:
            with self._locked():
                base = self._region_row(region) * len(KINDS)
            for i, k in enumerate(KINDS):
                self._rows[(region, k)] = base + i
            row = self._rows[(region, kind)]
        return row

    def try_take(self, counter: int, limit: int, *more: tuple[int, int]) -> bool:
        """If `counter`'s sum over all processes is under `limit` (and each of `more`'s
        `(counter, limit)` too), take one of each in this process's slot and return
        True; else take nothing and return False. Atomic across processes."""
        counts, slot, slots, fd = self._counts, self.slot, self.slots, self._fd
        # The hot path: the lock is taken inline (a context manager costs as much as
        # the flock itself).
        with self._thread_lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                at = counter * slots
                if sum(counts[at : at + slots]) >= limit:
                    return False
                for other, other_limit in more:
                    at = other * slots
                    if sum(counts[at : at + slots]) >= other_limit:
                        return False
                counts[counter * slots + slot] += 1
                for other, _ in more:
                    counts[other * slots + slot] += 1
                return True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def give_back(self, counter: int, *more: int) -> None:
        """Give back what a `try_take` of these counters took (in this slot).

        Without the file's lock, on purpose: only this process writes its column (the
        thread lock orders this process's threads), and a column is one aligned
        int64, so a `try_take` elsewhere sees it before or after the decrement, never
        torn. Either way it never sees less than is held, so nothing is over-admitted.
        """
        counts, slot, slots = self._counts, self.slot, self.slots
        with self._thread_lock:
            for row in (counter, *more):
                at = row * slots + slot
                if counts[at] > 0:  # 0: the slot was cleared under us (never below 0)
                    counts[at] -= 1

    def sum(self, counter: int) -> int:
        """`counter` over all processes. Without the lock: a snapshot for gauges and
        metrics (each column is one aligned int64, never seen half-written)."""
        at = counter * self.slots
        return sum(self._counts[at : at + self.slots])

    def held(self, slot: int) -> dict[tuple[str, Kind], int]:
        """What `slot` holds, by (region, kind), for logs and tests."""
        with self._locked():
            names = [self._name(i) for i in range(REGIONS)]
            return {
                (names[row // len(KINDS)], KINDS[row % len(KINDS)]): n
                for row in range(REGIONS * len(KINDS))
                if (n := self._counts[row * self.slots + slot])
            }

    def clear_slot(self, slot: int) -> None:
        """Zero `slot`'s column: the share of a dead process, once its environments
        are gone (what it held then is nobody's) and before another process takes the
        slot. The primary's only."""
        self._only_owner("clear a slot")
        if not 1 <= slot < self.slots:
            raise ValueError(f"slot must be 1..{self.slots - 1}, not {slot}")
        with self._locked():
            held = sum(self._counts[slot :: self.slots])
            for row in range(REGIONS * len(KINDS)):
                self._counts[row * self.slots + slot] = 0
        if held:
            log.info("shared counters: slot %d cleared (%d counts)", slot, held)

    def close(self) -> None:
        """Unmap; the primary also unlinks the file (secondaries that still have it
        mapped keep working until they stop)."""
        if self._closed:
            return
        self._closed = True
        self._names.release()
        self._counts.release()
        self._map.close()
        os.close(self._fd)
        if self._owner:
            self.path.unlink(missing_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _region_row(self, region: str) -> int:
        """`region`'s row (under the lock): found, else the first free one, else the
        shared last row."""
        raw = region.encode()
        if not raw or len(raw) >= NAME_BYTES:
            return REGIONS - 1
        for row in range(REGIONS - 1):
            name = self._name(row)
            if name == region:
                return row
            if not name:
                self._names[row * NAME_BYTES : row * NAME_BYTES + len(raw)] = raw
                return row
        log.warning("shared counters: no row left for region %s, sharing the last", region)
        return REGIONS - 1

    def _name(self, row: int) -> str:
        raw = bytes(self._names[row * NAME_BYTES : (row + 1) * NAME_BYTES])
        return raw.split(b"\0", 1)[0].decode()

    def _only_owner(self, what: str) -> None:
        if not self._owner:
            raise SharedCountersError(f"only the primary may {what}")


class SharedAccount:
    """One region's account-wide counts over every process: what a
    `ConcurrencyLimiter` with a shared backend checks and takes."""

    def __init__(self, counters: SharedCounters, region: str) -> None:
        self.counters = counters
        self._total = counters.counter(region, "total")
        self._unreserved = counters.counter(region, "unreserved")

    def in_region(self, region: str) -> SharedAccount:
        return SharedAccount(self.counters, region)

    def try_take(self, account_limit: int, unreserved_pool: int | None) -> bool:
        """One more in flight if under the account limit and (unless None) the
        unreserved pool, summed over all processes; False takes nothing."""
        if unreserved_pool is None:
            return self.counters.try_take(self._total, account_limit)
        return self.counters.try_take(
            self._total, account_limit, (self._unreserved, unreserved_pool)
        )

    def give_back(self, unreserved: bool) -> None:
        if unreserved:
            self.counters.give_back(self._total, self._unreserved)
        else:
            self.counters.give_back(self._total)

    @property
    def total(self) -> int:
        return self.counters.sum(self._total)

    @property
    def unreserved(self) -> int:
        return self.counters.sum(self._unreserved)


def _remove_stale(directory: Path) -> None:
    """Remove counters files whose primary is gone (killed before its `close`)."""
    for path in directory.glob(f"{PREFIX}*"):
        try:
            with path.open("rb") as f:
                magic, _slots, pid = _HEADER.unpack(f.read(_HEADER.size))
        except (OSError, struct.error):
            continue
        if magic == _MAGIC and not _alive(pid):
            path.unlink(missing_ok=True)
            log.info("shared counters: removed %s (its primary %d is gone)", path.name, pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
