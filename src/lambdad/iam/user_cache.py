"""Users' access keys and policies, remembered between requests.

Every signed request needs its access key's secret (a database read and an
AES-GCM unseal, `Users.lookup`) and, unless it is the admin's, its user's
policies (two more reads). `CachedUsers` keeps what those reads found in
memory, in a bounded LRU, so a warm request answers from the event loop
without a worker thread or a query (`remembered`, `remembered_policies`);
only a miss reads the database (`lookup`, `policies_of`, blocking). Unknown
key ids are never remembered: a flood of made-up ids cannot evict real ones.

When a user, key or policy changes, what is remembered goes at once. The
changes are made by `lambdad users` / `lambdad keys` (and the server's own
bootstrap), which write the database directly rather than through the server
(see `cli.py`), so they cannot tell the server. They leave a mark instead:
`ChangeMarker` appends a byte to `<data dir>/iam.changes` after each committed
change; the cache stats that file on every request (one `stat`, no read) and
forgets everything when its size or inode moved. Appending makes the file a
generation counter that only grows, so two changes within one clock tick are
still two changes (a touched mtime could miss the second).

A server sharing a PostgreSQL database with servers on other hosts does not see
their data dirs: for changes made there, remembered entries expire after
`ttl_s` (5 s by default), the bound on how long a rotated key or a removed user
can still be served on such a server. IAM itself documents its changes as
eventually consistent; on one host they apply immediately.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from lambdad.iam.principal import ResolvedCredential
from lambdad.iam.users import Users

CHANGES_FILE = "iam.changes"
DEFAULT_TTL_S = 5.0
DEFAULT_MAX_ENTRIES = 4096

Stamp = tuple[int, int]
V = TypeVar("V")


class ChangeMarker:
    """`<data dir>/iam.changes`: one byte appended per committed change of users,
    keys or policies; its (inode, size) is the generation readers compare."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / CHANGES_FILE

    def mark(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)

    def stamp(self) -> Stamp:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return (0, 0)
        return (info.st_ino, info.st_size)


class _Lru(Generic[V]):
    """Entries loaded at a time, the least recently used dropped past `max_entries`."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[str, tuple[V, float]] = OrderedDict()

    def get(self, key: str, not_before: float) -> V | None:
        found = self.entries.get(key)
        if found is None:
            return None
        if found[1] < not_before:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return found[0]

    def put(self, key: str, value: V, loaded_at: float) -> None:
        self.entries[key] = (value, loaded_at)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


class CachedUsers:
    """`Users` behind a memory of resolved keys and policies (see the module doc).

    `remembered*` never block (they run on the event loop); `lookup` and
    `policies_of` may read the database (worker threads)."""

    def __init__(
        self,
        users: Users,
        marker: ChangeMarker,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = users
        self.marker = marker
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: _Lru[ResolvedCredential] = _Lru(max_entries)
        self._policies: _Lru[list[dict[str, Any]]] = _Lru(max_entries)
        self._stamp = marker.stamp()

    def remembered(self, access_key_id: str) -> ResolvedCredential | None:
        """`CredentialResolver`: the key's credential if it is remembered, else None."""
        self._follow_changes()
        with self._lock:
            return self._keys.get(access_key_id, self._clock() - self.ttl_s)

    def lookup(self, access_key_id: str) -> ResolvedCredential | None:
        """`CredentialResolver`: remembered, or read (and remembered when found)."""
        found = self.remembered(access_key_id)
        if found is not None:
            return found
        return self._load(self._keys, access_key_id, self.users.lookup)

    def remembered_policies(self, name: str) -> list[dict[str, Any]] | None:
        self._follow_changes()
        with self._lock:
            return self._policies.get(name, self._clock() - self.ttl_s)

    def policies_of(self, name: str) -> list[dict[str, Any]]:
        """User `name`'s policy documents; `NoSuchUser` when it is gone."""
        found = self.remembered_policies(name)
        if found is not None:
            return found
        policies = self._load(self._policies, name, self.users.policies_of)
        assert policies is not None  # policies_of raises rather than answering None
        return policies

    def forget(self) -> None:
        with self._lock:
            self._keys.entries.clear()
            self._policies.entries.clear()

    def _load(self, lru: _Lru[V], key: str, read: Callable[[str], V | None]) -> V | None:
        # The stamp is read before the database: a change committed after it
        # moves the stamp, and what was read here is then not kept.
        stamp = self.marker.stamp()
        loaded_at = self._clock()
        value = read(key)
        if value is not None:
            with self._lock:
                if stamp == self._stamp:
                    lru.put(key, value, loaded_at)
        return value

    def _follow_changes(self) -> None:
        stamp = self.marker.stamp()
        if stamp != self._stamp:
            with self._lock:
                self._keys.entries.clear()
                self._policies.entries.clear()
                self._stamp = stamp
