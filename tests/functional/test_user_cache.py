"""Remembered access keys and policies: answered from memory once read, and
forgotten as soon as a change is marked (as `lambdad users`/`keys` mark them from
another process), or after their time to live when no mark can reach the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lambdad.iam import (
    CachedUsers,
    ChangeMarker,
    NoSuchUser,
    ResolvedCredential,
    ServerKey,
    Users,
)
from lambdad.store import UserStore

ACCOUNT = "123456789012"
POLICY = {"Statement": [{"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def operator(engine: sa.Engine, data_dir: Path) -> Users:
    """Users as the CLI has them: its own object, marking each change in the data dir."""
    key = ServerKey.load_or_create(data_dir)
    return Users(UserStore(engine), key, ACCOUNT, ChangeMarker(data_dir).mark)


class CountingUsers(Users):
    def __init__(self, engine: sa.Engine, data_dir: Path) -> None:
        super().__init__(UserStore(engine), ServerKey.load_or_create(data_dir), ACCOUNT)
        self.reads = 0

    def lookup(self, access_key_id: str) -> ResolvedCredential | None:
        self.reads += 1
        return super().lookup(access_key_id)

    def policies_of(self, name: str) -> list[dict[str, Any]]:
        self.reads += 1
        return super().policies_of(name)


@pytest.fixture
def server_users(engine: sa.Engine, tmp_path: Path) -> CountingUsers:
    return CountingUsers(engine, tmp_path)


def cached(
    users: Users, data_dir: Path, clock: Clock | None = None, max_entries: int = 100
) -> CachedUsers:
    return CachedUsers(
        users, ChangeMarker(data_dir), clock=clock or Clock(), max_entries=max_entries
    )


def test_a_key_and_policies_read_once_are_remembered(
    engine: sa.Engine, tmp_path: Path, server_users: CountingUsers
) -> None:
    key = operator(engine, tmp_path).add("alice", [POLICY])
    cache = cached(server_users, tmp_path)
    assert cache.remembered(key.access_key_id) is None
    found = cache.lookup(key.access_key_id)
    assert found is not None and found.secret_access_key == key.secret_access_key
    assert cache.remembered(key.access_key_id) == found
    assert cache.lookup(key.access_key_id) == found
    assert cache.policies_of("alice") == [POLICY]
    assert cache.remembered_policies("alice") == [POLICY]
    assert server_users.reads == 2


def test_unknown_keys_are_not_remembered(tmp_path: Path, server_users: CountingUsers) -> None:
    cache = cached(server_users, tmp_path)
    assert cache.lookup("AKIANOSUCHKEY0000000") is None
    assert cache.lookup("AKIANOSUCHKEY0000000") is None
    assert server_users.reads == 2


def test_a_rotated_key_is_forgotten_at_once(
    engine: sa.Engine, tmp_path: Path, server_users: CountingUsers
) -> None:
    cli = operator(engine, tmp_path)
    old = cli.add("alice", [POLICY])
    cache = cached(server_users, tmp_path)
    assert cache.lookup(old.access_key_id) is not None
    new = cli.rotate("alice")
    assert cache.remembered(old.access_key_id) is None
    assert cache.lookup(old.access_key_id) is None
    found = cache.lookup(new.access_key_id)
    assert found is not None and found.secret_access_key == new.secret_access_key


def test_a_removed_user_is_forgotten_at_once(
    engine: sa.Engine, tmp_path: Path, server_users: CountingUsers
) -> None:
    cli = operator(engine, tmp_path)
    key = cli.add("bob", [POLICY])
    cache = cached(server_users, tmp_path)
    assert cache.lookup(key.access_key_id) is not None
    assert cache.policies_of("bob") == [POLICY]
    cli.remove("bob")
    assert cache.remembered(key.access_key_id) is None
    assert cache.remembered_policies("bob") is None
    assert cache.lookup(key.access_key_id) is None
    with pytest.raises(NoSuchUser):
        cache.policies_of("bob")
    # Re-added under the same name with other policies: the new ones apply.
    cli.add("bob", [])
    assert cache.policies_of("bob") == []


def test_changes_no_mark_reaches_expire_after_the_ttl(
    engine: sa.Engine, tmp_path: Path, server_users: CountingUsers
) -> None:
    # Another host's CLI marks its own data dir, not this server's.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "server.key").write_bytes((tmp_path / "server.key").read_bytes())
    cli = operator(engine, elsewhere)
    old = cli.add("carol", [POLICY])
    clock = Clock()
    cache = cached(server_users, tmp_path, clock)
    assert cache.lookup(old.access_key_id) is not None
    cli.rotate("carol")
    clock.now += cache.ttl_s / 2
    assert cache.remembered(old.access_key_id) is not None  # not seen yet: eventual
    clock.now += cache.ttl_s
    assert cache.remembered(old.access_key_id) is None
    assert cache.lookup(old.access_key_id) is None


def test_the_memory_is_bounded_least_recently_used_first(
    engine: sa.Engine, tmp_path: Path, server_users: CountingUsers
) -> None:
    cli = operator(engine, tmp_path)
    keys = [cli.add(f"u{i}", []).access_key_id for i in range(3)]
    cache = cached(server_users, tmp_path, max_entries=2)
    for key in keys[:2]:
        cache.lookup(key)
    assert cache.remembered(keys[0]) is not None  # now the most recent
    cache.lookup(keys[2])
    assert cache.remembered(keys[1]) is None
    assert cache.remembered(keys[0]) is not None and cache.remembered(keys[2]) is not None


def test_the_marker_counts_every_change(tmp_path: Path) -> None:
    marker = ChangeMarker(tmp_path)
    stamps = {marker.stamp()}
    for _ in range(3):  # within one clock tick: each still a new stamp
        marker.mark()
        stamps.add(marker.stamp())
    assert len(stamps) == 4
