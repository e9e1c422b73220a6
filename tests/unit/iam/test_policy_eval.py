"""The evaluator against a table drawn from AWS's documented policy evaluation logic
(IAM User Guide: "Policy evaluation logic", "Policy evaluation for requests within
a single account", "Condition operators", "Conditions with multiple context keys
or values", "Policy variables")."""

from __future__ import annotations

from typing import Any

import pytest

from lambdad.iam.conditions import conditions_hold
from lambdad.iam.policy_eval import Caller, Request, evaluate
from lambdad.iam.wildcards import action_matches, arn_matches

ACCOUNT = "123456789012"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:hello"
OTHER = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:other"
BOB = Caller(arn=f"arn:aws:iam::{ACCOUNT}:user/bob", account=ACCOUNT)
SESSION = Caller(
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/worker/hello",
    account=ACCOUNT,
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/worker",
)
EVENTS = Caller(service="events.amazonaws.com")


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any = "lambda:InvokeFunction", resource: Any = FN, **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def deny(action: Any = "lambda:InvokeFunction", resource: Any = FN, **more: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **more}


def request(
    action: str = "lambda:InvokeFunction",
    resource: str = FN,
    caller: Caller = BOB,
    **context: Any,
) -> Request:
    keys = {k.replace("__", ":").lower(): v for k, v in context.items()}
    return Request(action, resource, caller, keys)


IDENTITY_CASES = [
    # (why, identity policies, request, allowed)
    ("no policy: implicit deny", [], request(), False),
    ("an allow allows", [policy(allow())], request(), True),
    ("a single statement, not a list", [{"Statement": allow()}], request(), True),
    ("another action is not allowed", [policy(allow())], request("lambda:GetFunction"), False),
    ("another resource is not allowed", [policy(allow())], request(resource=OTHER), False),
    ("explicit deny beats allow", [policy(allow(), deny())], request(), False),
    ("deny in another policy beats allow", [policy(allow()), policy(deny())], request(), False),
    ("actions are case-insensitive", [policy(allow("LAMBDA:invokefunction"))], request(), True),
    ("action wildcard", [policy(allow("lambda:Get*", "*"))], request("lambda:GetPolicy"), True),
    ("action ?", [policy(allow("lambda:GetPolic?", "*"))], request("lambda:GetPolicy"), True),
    ("action list", [policy(allow(["s3:*", "lambda:Invoke*"]))], request(), True),
    ("service wildcard does not cross", [policy(allow("s3:*"))], request(), False),
    (
        "NotAction allows the others",
        [policy({"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"})],
        request(),
        True,
    ),
    (
        "NotAction excludes its own",
        [policy({"Effect": "Allow", "NotAction": "lambda:Invoke*", "Resource": "*"})],
        request(),
        False,
    ),
    (
        "NotResource",
        [policy({"Effect": "Allow", "Action": "*", "NotResource": OTHER})],
        request(),
        True,
    ),
    (
        "NotResource excludes its own",
        [policy({"Effect": "Allow", "Action": "*", "NotResource": FN})],
        request(),
        False,
    ),
    (
        "deny with NotAction spares the listed action",
        [
            policy(
                allow("*", "*"), {"Effect": "Deny", "NotAction": "lambda:Invoke*", "Resource": "*"}
            )
        ],
        request(),
        True,
    ),
    ("resources are case-sensitive", [policy(allow(resource=FN.upper()))], request(), False),
    (
        "unqualified ARN does not match a qualified one",
        [policy(allow())],
        request(resource=f"{FN}:prod"),
        False,
    ),
    (
        "function:name* matches qualified ARNs",
        [policy(allow(resource=f"{FN}*"))],
        request(resource=f"{FN}:prod"),
        True,
    ),
    (
        "wildcard region segment",
        [policy(allow(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:*"))],
        request(),
        True,
    ),
    (
        "segment wildcard does not cross a colon",
        [policy(allow(resource="arn:aws:lambda:us-*:function:hello"))],
        request(),
        False,
    ),
    (
        "an unknown effect grants nothing",
        [policy({**allow(), "Effect": "allow"})],
        request(),
        False,
    ),
    (
        "a statement without Action grants nothing",
        [policy({"Effect": "Allow", "Resource": "*"})],
        request(),
        False,
    ),
    (
        "a statement without Resource grants nothing (identity)",
        [policy({"Effect": "Allow", "Action": "*"})],
        request(),
        False,
    ),
    ("full admin", [policy(allow("*", "*"))], request("lambda:DeleteFunction"), True),
]


@pytest.mark.parametrize(
    ("policies", "req", "allowed"),
    [case[1:] for case in IDENTITY_CASES],
    ids=[case[0] for case in IDENTITY_CASES],
)
def test_identity_policies(policies: list[dict[str, Any]], req: Request, allowed: bool) -> None:
    assert evaluate(req, policies).allowed is allowed


def resource_statement(principal: Any, effect: str = "Allow", **more: Any) -> dict[str, Any]:
    return {
        "Effect": effect,
        "Principal": principal,
        "Action": "lambda:InvokeFunction",
        "Resource": FN,
        **more,
    }


SAME_ACCOUNT_CASES = [
    # (why, identity, resource policy, request, allowed, denied_by)
    (
        "resource policy names the user",
        [],
        policy(resource_statement({"AWS": BOB.arn})),
        request(),
        True,
        None,
    ),
    ("identity allows, resource silent", [policy(allow())], policy(), request(), True, None),
    (
        "resource names someone else",
        [],
        policy(resource_statement({"AWS": SESSION.arn})),
        request(),
        False,
        None,
    ),
    (
        "resource names the role: its sessions match",
        [],
        policy(resource_statement({"AWS": SESSION.role_arn})),
        request(caller=SESSION),
        True,
        None,
    ),
    (
        "resource names the account: delegates to identity",
        [],
        policy(resource_statement({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})),
        request(),
        False,
        None,
    ),
    (
        "resource names the account, identity allows",
        [policy(allow())],
        policy(resource_statement({"AWS": ACCOUNT})),
        request(),
        True,
        None,
    ),
    (
        "resource policy deny beats identity allow",
        [policy(allow())],
        policy(resource_statement("*", "Deny")),
        request(),
        False,
        "resource-based",
    ),
    (
        "identity deny beats resource allow",
        [policy(deny())],
        policy(resource_statement("*")),
        request(),
        False,
        "identity-based",
    ),
    (
        "resource deny naming the account applies to its users",
        [policy(allow())],
        policy(resource_statement({"AWS": ACCOUNT}, "Deny")),
        request(),
        False,
        "resource-based",
    ),
    (
        "NotPrincipal deny spares the named",
        [policy(allow())],
        policy({"Effect": "Deny", "NotPrincipal": {"AWS": BOB.arn}, "Action": "*", "Resource": FN}),
        request(),
        True,
        None,
    ),
    (
        "NotPrincipal deny hits the others",
        [policy(allow())],
        policy(
            {"Effect": "Deny", "NotPrincipal": {"AWS": SESSION.arn}, "Action": "*", "Resource": FN}
        ),
        request(),
        False,
        "resource-based",
    ),
    (
        "service principal",
        [],
        policy(resource_statement({"Service": "events.amazonaws.com"})),
        request(caller=EVENTS),
        True,
        None,
    ),
    (
        "another service",
        [],
        policy(resource_statement({"Service": "s3.amazonaws.com"})),
        request(caller=EVENTS),
        False,
        None,
    ),
    (
        "a user is not the service",
        [],
        policy(resource_statement({"Service": "events.amazonaws.com"})),
        request(),
        False,
        None,
    ),
    (
        "service with matching SourceArn",
        [],
        policy(
            resource_statement(
                {"Service": "events.amazonaws.com"},
                Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:events:*:rule/r*"}},
            )
        ),
        request(caller=EVENTS, aws__SourceArn=f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r1"),
        True,
        None,
    ),
    (
        "service with another SourceArn",
        [],
        policy(
            resource_statement(
                {"Service": "events.amazonaws.com"},
                Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:events:*:rule/r*"}},
            )
        ),
        request(caller=EVENTS, aws__SourceArn=f"arn:aws:events:us-east-1:{ACCOUNT}:rule/x"),
        False,
        None,
    ),
    (
        "SourceAccount condition",
        [],
        policy(
            resource_statement(
                {"Service": "events.amazonaws.com"},
                Condition={"StringEquals": {"AWS:SourceAccount": ACCOUNT}},
            )
        ),
        request(caller=EVENTS, aws__SourceAccount="999999999999"),
        False,
        None,
    ),
]


@pytest.mark.parametrize(
    ("identity", "resource", "req", "allowed", "denied_by"),
    [case[1:] for case in SAME_ACCOUNT_CASES],
    ids=[case[0] for case in SAME_ACCOUNT_CASES],
)
def test_identity_and_resource_policies(
    identity: list[dict[str, Any]],
    resource: dict[str, Any],
    req: Request,
    allowed: bool,
    denied_by: str | None,
) -> None:
    verdict = evaluate(req, identity, resource)
    assert (verdict.allowed, verdict.denied_by) == (allowed, denied_by)


NOW = "2026-12-01T03:00:00Z"
CONDITION_CASES = [
    # (condition, context, holds)
    ({"StringEquals": {"aws:username": "bob"}}, {"aws:username": "bob"}, True),
    ({"StringEquals": {"aws:username": "bob"}}, {"aws:username": "Bob"}, False),
    ({"StringEquals": {"AWS:UserName": "bob"}}, {"aws:username": "bob"}, True),  # keys: any case
    ({"StringEquals": {"aws:username": ["al", "bob"]}}, {"aws:username": "bob"}, True),  # OR
    ({"StringEquals": {"aws:username": "bob"}}, {}, False),  # absent key: false
    ({"StringNotEquals": {"aws:username": "bob"}}, {}, True),  # absent, negated: true
    ({"StringNotEquals": {"aws:username": ["al", "bob"]}}, {"aws:username": "bob"}, False),  # NOR
    ({"StringEqualsIgnoreCase": {"aws:username": "BOB"}}, {"aws:username": "bob"}, True),
    ({"StringLike": {"aws:username": "b?b*"}}, {"aws:username": "bobby"}, True),
    ({"StringLike": {"aws:username": "b*"}}, {"aws:username": "al"}, False),
    ({"StringNotLike": {"aws:username": "b*"}}, {"aws:username": "al"}, True),
    ({"StringEqualsIfExists": {"aws:username": "bob"}}, {}, True),
    ({"StringEqualsIfExists": {"aws:username": "bob"}}, {"aws:username": "al"}, False),
    ({"Null": {"aws:username": "true"}}, {}, True),
    ({"Null": {"aws:username": "false"}}, {}, False),
    ({"Null": {"aws:username": "false"}}, {"aws:username": "bob"}, True),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": "false"}, False),
    ({"Bool": {"aws:SecureTransport": False}}, {"aws:securetransport": "false"}, True),
    ({"NumericLessThan": {"k:n": "10"}}, {"k:n": "9.5"}, True),
    ({"NumericGreaterThanEquals": {"k:n": 10}}, {"k:n": "9"}, False),
    ({"NumericEquals": {"k:n": "10"}}, {"k:n": "ten"}, False),
    ({"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}, {"aws:currenttime": NOW}, True),
    ({"DateGreaterThan": {"aws:CurrentTime": "2027-01-01"}}, {"aws:currenttime": NOW}, False),
    ({"DateLessThan": {"aws:EpochTime": "1900000000"}}, {"aws:epochtime": "1800000000"}, True),
    (
        {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/a*"}},
        {"aws:sourcearn": "arn:aws:events:us-east-1:1:rule/ab"},
        True,
    ),
    (
        {"ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:1:rule/ab"}},
        {"aws:sourcearn": "arn:aws:events:us-east-1:1:rule/ab"},
        True,
    ),
    ({"ArnNotLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/a*"}}, {}, True),
    ({"ForAnyValue:StringEquals": {"k:tags": ["a", "b"]}}, {"k:tags": ["c", "b"]}, True),
    ({"ForAnyValue:StringEquals": {"k:tags": ["a"]}}, {"k:tags": []}, False),
    ({"ForAllValues:StringEquals": {"k:tags": ["a", "b"]}}, {"k:tags": ["a", "c"]}, False),
    ({"ForAllValues:StringEquals": {"k:tags": ["a", "b"]}}, {"k:tags": ["a", "b"]}, True),
    ({"ForAllValues:StringEquals": {"k:tags": ["a"]}}, {}, True),  # absent: true
    (
        {"StringEquals": {"aws:username": "bob"}, "Bool": {"aws:SecureTransport": "true"}},
        {"aws:username": "bob", "aws:securetransport": "false"},
        False,
    ),  # operators AND
    ({"StringEquals": {"aws:username": "bob", "k:n": "1"}}, {"aws:username": "bob"}, False),  # AND
    (
        {"StringEquals": {"k:owner": "${aws:username}"}},
        {"aws:username": "bob", "k:owner": "bob"},
        True,
    ),
    ({"StringEquals": {"k:owner": "${aws:username}"}}, {"k:owner": "bob"}, False),
    ({"NoSuchOperator": {"aws:username": "bob"}}, {"aws:username": "bob"}, False),
    ({"stringequals": {"aws:username": "bob"}}, {"aws:username": "bob"}, False),
]


@pytest.mark.parametrize(("condition", "context", "holds"), CONDITION_CASES)
def test_condition_operators(
    condition: dict[str, Any], context: dict[str, Any], holds: bool
) -> None:
    assert conditions_hold(condition, context) is holds


def test_policy_variables_in_resources() -> None:
    own = policy(allow("*", f"arn:aws:lambda:*:{ACCOUNT}:function:${{aws:username}}-*"))
    mine = request(resource=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:bob-app")
    theirs = request(resource=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:al-app")
    assert evaluate(
        Request(mine.action, mine.resource, BOB, {"aws:username": "bob"}), [own]
    ).allowed
    assert not evaluate(
        Request(theirs.action, theirs.resource, BOB, {"aws:username": "bob"}), [own]
    ).allowed


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("lambda:*", "lambda:InvokeFunction", True),
        ("lambda:invoke?unction", "lambda:InvokeFunction", True),
        ("lambda:Invoke", "lambda:InvokeFunction", False),
    ],
)
def test_action_matching(pattern: str, value: str, matches: bool) -> None:
    assert action_matches(pattern, value) is matches


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (FN, FN, True),
        (f"{FN}:*", f"{FN}:1", True),
        (f"{FN}:*", FN, False),
        ("arn:aws:lambda:us-east-1::function:hello", FN, False),  # empty account matches empty
        ("arn:aws:lambda:*:*:layer:l:*", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:l:3", True),
        ("*", FN, True),
    ],
)
def test_arn_matching(pattern: str, value: str, matches: bool) -> None:
    assert arn_matches(pattern, value) is matches
