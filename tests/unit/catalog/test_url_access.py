"""The resource-policy statements that open a NONE function URL to the public."""

from __future__ import annotations

from typing import Any

from lambdad.catalog.url_access import public_url_allowed

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


def test_both_statements_are_needed() -> None:
    assert public_url_allowed([URL, INVOKE])
    assert not public_url_allowed([URL])
    assert not public_url_allowed([INVOKE])
    assert not public_url_allowed([])


def test_statements_that_do_not_apply_to_a_url_request() -> None:
    account_only: dict[str, Any] = {**URL, "Principal": {"AWS": "arn:aws:iam::1:root"}}
    assert not public_url_allowed([account_only, INVOKE])
    iam_only = {**URL, "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}}
    assert not public_url_allowed([iam_only, INVOKE])
    from_a_source = {**INVOKE, "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}}
    assert not public_url_allowed([URL, from_a_source])


def test_wildcards_and_deny() -> None:
    anything = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["lambda:*"]}
    assert public_url_allowed([anything])
    deny = {**INVOKE, "Effect": "Deny"}
    assert not public_url_allowed([URL, INVOKE, deny])
