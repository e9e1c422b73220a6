"""Users and access keys on a real database: add, list, rotate, remove, the admin
bootstrap, and what a copy of the database yields (ciphertext only)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from lambdad.iam import (
    ADMIN,
    ADMIN_POLICY,
    MalformedPolicy,
    NoSuchUser,
    PrincipalKind,
    SealBroken,
    ServerKey,
    UserExists,
    Users,
)
from lambdad.store import UserStore
from lambdad.store.schema import iam_access_keys

POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}],
}


@pytest.fixture
def users(engine: sa.Engine, tmp_path: Path) -> Users:
    return Users(UserStore(engine), ServerKey.load_or_create(tmp_path), "123456789012")


def test_add_list_and_resolve(users: Users) -> None:
    key = users.add("alice", [POLICY])
    assert key.access_key_id.startswith("AKIA") and len(key.access_key_id) == 20
    assert len(key.secret_access_key) == 40
    [alice] = users.all()
    assert (alice.name, alice.arn) == ("alice", "arn:aws:iam::123456789012:user/alice")
    assert alice.policies == [POLICY] and alice.access_key_ids == [key.access_key_id]
    assert users.policies_of("alice") == [POLICY]

    found = users.lookup(key.access_key_id)
    assert found is not None
    assert found.secret_access_key == key.secret_access_key and found.session_token is None
    assert found.principal.kind is PrincipalKind.USER
    assert found.principal.arn == alice.arn
    assert users.lookup("AKIANOSUCHKEY0000000") is None


def test_names_are_unique_and_checked(users: Users) -> None:
    users.add("bob", [])
    with pytest.raises(UserExists):
        users.add("bob", [])
    with pytest.raises(Exception, match="Invalid user name"):
        users.add("no spaces", [])
    with pytest.raises(MalformedPolicy):
        users.add("carol", [{"Statement": [{"Effect": "Maybe"}]}])


def test_rotate_replaces_the_key(users: Users) -> None:
    old = users.add("dave", [])
    new = users.rotate("dave")
    assert new.access_key_id != old.access_key_id
    assert users.lookup(old.access_key_id) is None
    assert users.lookup(new.access_key_id) is not None
    with pytest.raises(NoSuchUser):
        users.rotate("nobody")


def test_remove_takes_the_keys(users: Users) -> None:
    key = users.add("erin", [])
    users.remove("erin")
    assert users.lookup(key.access_key_id) is None
    assert users.all() == []
    with pytest.raises(NoSuchUser):
        users.remove("erin")


def test_the_admin_is_made_once(users: Users) -> None:
    key = users.ensure_admin()
    assert key is not None and key.user_name == ADMIN
    assert users.policies_of(ADMIN) == [ADMIN_POLICY]
    assert users.ensure_admin() is None


def test_the_server_key_file_is_private(tmp_path: Path) -> None:
    ServerKey.load_or_create(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / "server.key").st_mode)
    assert mode == 0o600
    again = ServerKey.load_or_create(tmp_path)  # the same key, not a new one
    sealed = again.seal(b"x", b"c")
    assert ServerKey.load_or_create(tmp_path).open(sealed, b"c") == b"x"


def test_a_copied_database_yields_no_secret(
    users: Users, engine: sa.Engine, tmp_path: Path
) -> None:
    key = users.add("frank", [])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(iam_access_keys)).all()
    dump = json.dumps([[str(v) for v in row] for row in rows])
    assert key.access_key_id in dump
    assert key.secret_access_key not in dump
    assert key.secret_access_key.encode() not in b"".join(bytes(r.secret_sealed) for r in rows)
    # Another host's key (the file was not copied) opens nothing.
    (tmp_path / "other").mkdir()
    elsewhere = Users(UserStore(engine), ServerKey.load_or_create(tmp_path / "other"), "1")
    with pytest.raises(SealBroken):
        elsewhere.lookup(key.access_key_id)


def test_a_sealed_secret_is_bound_to_its_key_id(users: Users, engine: sa.Engine) -> None:
    first = users.add("gina", [])
    second = users.add("hank", [])
    with engine.begin() as conn:
        sealed = conn.execute(
            sa.select(iam_access_keys.c.secret_sealed).where(
                iam_access_keys.c.access_key_id == first.access_key_id
            )
        ).scalar_one()
        conn.execute(
            sa.update(iam_access_keys)
            .where(iam_access_keys.c.access_key_id == second.access_key_id)
            .values(secret_sealed=sealed)
        )
    with pytest.raises(SealBroken):
        users.lookup(second.access_key_id)
