"""The authorizer: who is asked, what AWS's AccessDenied says, service principals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from lambdad.errors import AccessDenied
from lambdad.iam import Authorizer, Principal, PrincipalKind

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:hello"
BOB = Principal(PrincipalKind.USER, "bob", f"arn:aws:iam::{ACCOUNT}:user/bob", "AKIABOB")
ADMIN = Principal(PrincipalKind.USER, "admin", f"arn:aws:iam::{ACCOUNT}:user/admin", "AKIAADM")


def allow(action: str, resource: str = FN, **more: Any) -> dict[str, Any]:
    return {"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **more}]}


def authorizer(
    identity: Sequence[dict[str, Any]] = (),
    resource: dict[str, Any] | None = None,
    enabled: bool = True,
) -> Authorizer:
    async def identity_policies(_p: Principal) -> Sequence[dict[str, Any]]:
        return identity

    async def resource_policy(arn: str) -> dict[str, Any] | None:
        return resource if arn == FN else None

    return Authorizer(
        ACCOUNT,
        identity_policies,
        resource_policy,
        is_admin=lambda p: p.name == "admin",
        enabled=enabled,
    )


async def test_an_allowed_action_passes_and_another_gets_aws_message() -> None:
    auth = authorizer([allow("lambda:InvokeFunction")])
    await auth.authorize(BOB, "lambda:InvokeFunction", [FN])
    with pytest.raises(AccessDenied) as raised:
        await auth.authorize(BOB, "lambda:GetFunction", [FN])
    assert raised.value.message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/bob is not authorized to perform: "
        f"lambda:GetFunction on resource: {FN} because no identity-based policy allows "
        "the lambda:GetFunction action"
    )


async def test_an_explicit_deny_is_named_as_such() -> None:
    deny = {"Statement": [{"Effect": "Deny", "Action": "lambda:*", "Resource": "*"}]}
    auth = authorizer([allow("*", "*"), deny])
    with pytest.raises(AccessDenied) as raised:
        await auth.authorize(BOB, "lambda:InvokeFunction", [FN])
    assert raised.value.message.endswith("with an explicit deny in an identity-based policy")


async def test_list_calls_act_on_star() -> None:
    auth = authorizer([allow("lambda:GetFunction")])
    with pytest.raises(AccessDenied) as raised:
        await auth.authorize(BOB, "lambda:ListFunctions", ["*"])
    assert "on resource: * because" in raised.value.message


async def test_every_resource_must_be_allowed() -> None:
    auth = authorizer([allow("lambda:GetLayerVersion")])
    other = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:l:1"
    with pytest.raises(AccessDenied) as raised:
        await auth.authorize(BOB, "lambda:GetLayerVersion", [FN, other])
    assert other in raised.value.message


async def test_the_function_policy_alone_may_allow_invoking() -> None:
    resource = allow("lambda:InvokeFunction", Principal={"AWS": BOB.arn})
    auth = authorizer([], resource)
    await auth.authorize(BOB, "lambda:InvokeFunction", [FN])
    with pytest.raises(AccessDenied):
        await auth.authorize(BOB, "lambda:GetFunction", [FN])


async def test_condition_keys_of_the_principal() -> None:
    own = allow("lambda:*", "*", Condition={"StringEquals": {"aws:username": "bob"}})
    await authorizer([own]).authorize(BOB, "lambda:GetFunction", [FN])
    other = Principal(PrincipalKind.USER, "al", f"arn:aws:iam::{ACCOUNT}:user/al", "AKIAAL")
    with pytest.raises(AccessDenied):
        await authorizer([own]).authorize(other, "lambda:GetFunction", [FN])


async def test_admin_and_authorization_off_allow_everything() -> None:
    await authorizer().authorize(ADMIN, "lambda:DeleteFunction", [FN])
    await authorizer(enabled=False).authorize(None, "lambda:DeleteFunction", [FN])
    with pytest.raises(AccessDenied):
        await authorizer().authorize(None, "lambda:DeleteFunction", [FN])


async def test_service_principals_are_asked_of_the_function_policy_with_source_arn() -> None:
    rule = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/nightly"
    resource = allow(
        "lambda:InvokeFunction",
        Principal={"Service": "events.amazonaws.com"},
        Condition={"ArnLike": {"AWS:SourceArn": rule}},
    )
    auth = authorizer([], resource)
    assert await auth.service_may_invoke("events.amazonaws.com", FN, rule)
    assert not await auth.service_may_invoke("events.amazonaws.com", FN, rule + "-other")
    assert not await auth.service_may_invoke("scheduler.amazonaws.com", FN, rule)
    assert not await auth.service_may_invoke("events.amazonaws.com", FN + ":prod", rule)
    assert await authorizer([], None, enabled=False).service_may_invoke(
        "events.amazonaws.com", FN, rule
    )
