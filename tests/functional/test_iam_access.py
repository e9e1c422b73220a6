"""The access parts built together: a function's environment credentials act as its
role, held to the role's policy; users to theirs; everything is open with auth off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lambdad.catalog import FunctionConfig
from lambdad.errors import AccessDenied, InvalidParameterValue
from lambdad.iam import Access, CachedUsers, ChangeMarker, ServerKey, Users
from lambdad.store import RoleStore, UserStore
from support.catalog import make_version

pytestmark = pytest.mark.anyio
ACCOUNT = "000000000000"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"


def build(engine: sa.Engine, tmp_path: Path, enabled: bool = True) -> Access:
    key = ServerKey.load_or_create(tmp_path)
    changes = ChangeMarker(tmp_path)
    users = CachedUsers(Users(UserStore(engine), key, ACCOUNT, changes.mark), changes)

    async def no_resource_policy(_arn: str) -> dict[str, Any] | None:
        return None

    return Access.build(
        ACCOUNT,
        RoleStore(engine),
        key,
        no_resource_policy,
        users,
        enabled=enabled,
        credentials_ttl_s=3600,
    )


async def test_environment_credentials_act_as_the_role(engine: sa.Engine, tmp_path: Path) -> None:
    access = build(engine, tmp_path)
    allowed = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": FN + "b"}
    access.roles.put("invoker", json.dumps({"Statement": [allowed]}))
    config = FunctionConfig(
        runtime="python3.12", handler="app.handler", role=f"arn:aws:iam::{ACCOUNT}:role/invoker"
    )
    version = make_version("caller", config=config)

    env = access.credentials_for(version)
    assert env is not None and env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    resolved = access.sessions.lookup(env["AWS_ACCESS_KEY_ID"])
    assert resolved is not None and resolved.secret_access_key == env["AWS_SECRET_ACCESS_KEY"]
    session = resolved.principal
    assert session.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/invoker/caller"

    await access.authorizer.authorize(session, "lambda:InvokeFunction", [FN + "b"])
    with pytest.raises(AccessDenied):
        await access.authorizer.authorize(session, "lambda:InvokeFunction", [FN + "c"])
    access.roles.remove("invoker")  # a removed role's sessions may do nothing
    with pytest.raises(AccessDenied):
        await access.authorizer.authorize(session, "lambda:InvokeFunction", [FN + "b"])


async def test_users_are_held_to_their_policies_and_admin_to_none(
    engine: sa.Engine, tmp_path: Path
) -> None:
    access = build(engine, tmp_path)
    changes = ChangeMarker(tmp_path)
    users = Users(UserStore(engine), ServerKey.load_or_create(tmp_path), ACCOUNT, changes.mark)
    admin_key = users.ensure_admin()
    assert admin_key is not None
    admin = users.lookup(admin_key.access_key_id)
    listing = {"Effect": "Allow", "Action": "lambda:List*", "Resource": "*"}
    bob = users.lookup(users.add("bob", [{"Statement": [listing]}]).access_key_id)
    assert admin is not None and bob is not None
    await access.authorizer.authorize(admin.principal, "lambda:DeleteFunction", [FN + "x"])
    await access.authorizer.authorize(bob.principal, "lambda:ListFunctions", ["*"])
    with pytest.raises(AccessDenied):
        await access.authorizer.authorize(bob.principal, "lambda:DeleteFunction", [FN + "x"])
    users.remove("bob")
    with pytest.raises(AccessDenied):
        await access.authorizer.authorize(bob.principal, "lambda:ListFunctions", ["*"])


async def test_roles_are_checked_only_with_authorization_on(
    engine: sa.Engine, tmp_path: Path
) -> None:
    on = build(engine, tmp_path)
    on.roles.ensure_default()
    assert on.check_role is not None and on.max_environment_age_s is not None
    await on.check_role(f"arn:aws:iam::{ACCOUNT}:role/lambda-role")
    with pytest.raises(InvalidParameterValue):
        await on.check_role(f"arn:aws:iam::{ACCOUNT}:role/missing")

    off = build(engine, tmp_path, enabled=False)
    assert off.check_role is None and off.max_environment_age_s is None
    assert off.credentials_for(make_version("f")) is None
    await off.authorizer.authorize(None, "lambda:DeleteFunction", [FN + "f"])
