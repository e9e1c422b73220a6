"""Host uids for sandboxes: one per sandbox, from a block of uids this server holds.

Why: the kernel counts some limits per host uid (inotify instances and
watches, RLIMIT_NPROC, pending signals, POSIX message queue bytes). When every
sandbox ran as one uid, 128 `inotify_init()` calls in one function made every
other function on the host get EMFILE.

How: the ids above `HOST_ID_BASE` are cut into blocks of `BLOCK_SIZE`. A
backend claims a free block with an flock on the block's file in a host-wide
directory, so servers side by side never share a uid, and hands out one id per
sandbox (the lowest free one), used as both its host uid and gid. An id is taken
back only once every process of its sandbox is gone (`Slot.released`); a
sandbox whose teardown failed keeps its id for good. Spare slots hold no id:
theirs is chosen when a sandbox is exec'd into them.

The backend's supervisor inherits the block's lock too, so after a crash the
block stays claimed until the dead server's sandboxes are reclaimed.
"""

from __future__ import annotations

import fcntl
import heapq
import logging
import os
import threading
from pathlib import Path

from lambdad.sandbox.base import SandboxError

log = logging.getLogger(__name__)

# Far above any account or subordinate-id range a host hands out, and below 2**31.
HOST_ID_BASE = 1_900_000_000
BLOCK_SIZE = 65_536
BLOCKS = 512
# Block 0 is never claimed: its first ids are for one-off trials (see backend.py).
TRIAL_ID = HOST_ID_BASE + 993
# Host-wide, so that every server on the host sees the same claims.
CLAIM_DIR = Path("/run/lambdad-ids") if Path("/run").is_dir() else Path("/tmp/lambdad-ids")


class HostIds:
    """The ids of one claimed block. Thread-safe."""

    def __init__(self, block: int, lock_fd: int) -> None:
        self.block = block
        self.first = HOST_ID_BASE + block * BLOCK_SIZE
        self.lock_fd = lock_fd
        """Held while the block is ours; hand it to the supervisor too."""
        self._mutex = threading.Lock()
        self._next = 0
        self._free: list[int] = []  # a heap of ids given back
        self._given_back: set[int] = set()

    @classmethod
    def claim(cls, claim_dir: Path = CLAIM_DIR) -> HostIds:
        """Claim the first block no other live server (or its supervisor) holds."""
        claim_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        for block in range(1, BLOCKS):
            path = claim_dir / f"block-{block}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            ids = cls(block, fd)
            log.debug("sandbox: host ids from %d are ours (block %d)", ids.first, block)
            return ids
        raise SandboxError(f"every block of sandbox host ids in {claim_dir} is taken")

    def allocate(self) -> int:
        with self._mutex:
            if self._free:
                index = heapq.heappop(self._free)
                self._given_back.discard(index)
                return self.first + index
            if self._next >= BLOCK_SIZE:
                raise SandboxError(f"all {BLOCK_SIZE} sandbox host ids of this server are in use")
            self._next += 1
            return self.first + self._next - 1

    def release(self, host_id: int) -> None:
        """Give back an id once no process runs as it any more."""
        index = host_id - self.first
        if not 0 <= index < self._next:
            raise ValueError(f"host id {host_id} is not from block {self.block}")
        with self._mutex:
            if index not in self._given_back:  # twice must never mean two owners later
                self._given_back.add(index)
                heapq.heappush(self._free, index)

    def close(self) -> None:
        os.close(self.lock_fd)
