"""Callers without a key: anyone at a NONE function URL (the function's policy alone
decides, with the URL's condition keys), and a schedule's execution role (its policy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from lambdad.iam import Authorizer, Principal

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:hello"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"

URL = {
    "Effect": "Allow",
    "Principal": "*",
    "Action": "lambda:InvokeFunctionUrl",
    "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}},
}
INVOKE = {
    "Effect": "Allow",
    "Principal": "*",
    "Action": "lambda:InvokeFunction",
    "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}},
}


def authorizer(statements: Sequence[dict[str, Any]], enabled: bool = True) -> Authorizer:
    async def identity_policies(_p: Principal) -> Sequence[dict[str, Any]]:
        return []

    async def resource_policy(arn: str) -> dict[str, Any] | None:
        return {"Statement": list(statements)} if arn == FN and statements else None

    return Authorizer(ACCOUNT, identity_policies, resource_policy, enabled=enabled)


async def public_url_allowed(statements: Sequence[dict[str, Any]], enabled: bool = True) -> bool:
    """What the function URL front asks for AuthType NONE: both actions, by anyone."""
    auth = authorizer(statements, enabled)
    return await auth.anyone_may(
        "lambda:InvokeFunctionUrl", FN, {"lambda:FunctionUrlAuthType": "NONE"}
    ) and await auth.anyone_may(
        "lambda:InvokeFunction", FN, {"lambda:InvokedViaFunctionUrl": "true"}
    )


async def test_both_statements_are_needed() -> None:
    assert await public_url_allowed([URL, INVOKE])
    assert not await public_url_allowed([URL])
    assert not await public_url_allowed([INVOKE])
    assert not await public_url_allowed([])


async def test_the_policy_decides_even_with_authorization_off() -> None:
    assert not await public_url_allowed([URL], enabled=False)
    assert await public_url_allowed([URL, INVOKE], enabled=False)


async def test_statements_that_do_not_apply_to_a_url_request() -> None:
    account_only: dict[str, Any] = {**URL, "Principal": {"AWS": "arn:aws:iam::1:root"}}
    assert not await public_url_allowed([account_only, INVOKE])
    own_account: dict[str, Any] = {**URL, "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}
    assert not await public_url_allowed([own_account, INVOKE])
    iam_only = {**URL, "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}}
    assert not await public_url_allowed([iam_only, INVOKE])
    from_a_source = {**INVOKE, "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}}
    assert not await public_url_allowed([URL, from_a_source])
    a_service = {**INVOKE, "Principal": {"Service": "events.amazonaws.com"}}
    assert not await public_url_allowed([URL, a_service])


async def test_wildcards_and_deny() -> None:
    anything = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["lambda:*"]}
    assert await public_url_allowed([anything])
    deny = {**INVOKE, "Effect": "Deny"}
    assert not await public_url_allowed([URL, INVOKE, deny])


async def test_a_role_may_invoke_what_its_policy_or_the_functions_allows() -> None:
    invoke_all = {
        "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": f"{FN}*"}]
    }
    logs_only = {
        "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}],
    }
    auth = authorizer([])
    assert await auth.role_may(ROLE, invoke_all, "lambda:InvokeFunction", FN)
    assert await auth.role_may(ROLE, invoke_all, "lambda:InvokeFunction", f"{FN}:live")
    assert not await auth.role_may(ROLE, logs_only, "lambda:InvokeFunction", FN)
    names_role = {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "lambda:*"}
    assert await authorizer([names_role]).role_may(ROLE, logs_only, "lambda:InvokeFunction", FN)
    deny = {"Effect": "Deny", "Principal": "*", "Action": "lambda:InvokeFunction"}
    assert not await authorizer([deny]).role_may(ROLE, invoke_all, "lambda:InvokeFunction", FN)
    assert await authorizer([], enabled=False).role_may(
        ROLE, logs_only, "lambda:InvokeFunction", FN
    )
