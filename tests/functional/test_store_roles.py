"""Roles in the database: added, replaced, listed, removed; the default role; Role ARNs."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from lambdad.errors import InvalidParameterValue
from lambdad.iam import MalformedPolicy, Roles
from lambdad.iam.roles import DEFAULT_ROLE, NOT_ASSUMABLE
from lambdad.store import RoleStore

pytestmark = pytest.mark.anyio
ACCOUNT = "123456789012"
POLICY = {"Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]}


@pytest.fixture
def roles(engine: sa.Engine) -> Roles:
    return Roles(RoleStore(engine), ACCOUNT)


async def test_a_role_is_added_replaced_listed_and_removed(roles: Roles) -> None:
    assert roles.put("caller", json.dumps(POLICY))
    assert await roles.policy_of(f"arn:aws:iam::{ACCOUNT}:role/caller") == POLICY
    denied = {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    assert not roles.put("caller", json.dumps(denied))  # replaced, not added
    assert await roles.policy_of("caller") == denied
    assert [r.arn for r in roles.list()] == [f"arn:aws:iam::{ACCOUNT}:role/caller"]
    assert roles.remove("caller") and not roles.remove("caller")
    assert await roles.policy_of("caller") is None


async def test_only_roles_of_this_account_that_exist_can_be_assumed(roles: Roles) -> None:
    roles.ensure_default()
    roles.ensure_default()  # idempotent
    await roles.check_assumable(f"arn:aws:iam::{ACCOUNT}:role/{DEFAULT_ROLE}")
    await roles.check_assumable(f"arn:aws:iam::{ACCOUNT}:role/service-role/{DEFAULT_ROLE}")
    for arn in (
        f"arn:aws:iam::{ACCOUNT}:role/missing",
        f"arn:aws:iam::999999999999:role/{DEFAULT_ROLE}",
        "not-an-arn",
    ):
        with pytest.raises(InvalidParameterValue) as raised:
            await roles.check_assumable(arn)
        assert raised.value.message == NOT_ASSUMABLE


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "{}",
        '{"Statement": {"Effect": "Allow", "Action": "*"}}',
        '{"Statement": {"Effect": "Permit", "Action": "*", "Resource": "*"}}',
        '{"Statement": {"Effect": "Allow", "Action": "*", "NotAction": "x", "Resource": "*"}}',
        '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}}',
        '{"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Action": "*", '
        '"Resource": "*"}}',
        '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", '
        '"Condition": {"StringSorta": {"a": "b"}}}}',
    ],
)
def test_a_malformed_policy_is_refused_and_nothing_stored(roles: Roles, text: str) -> None:
    with pytest.raises(MalformedPolicy):
        roles.put("r", text)
    assert roles.list() == []


def test_role_names_follow_iam(roles: Roles) -> None:
    with pytest.raises(Exception, match="Role name"):
        roles.put("bad name!", json.dumps(POLICY))
