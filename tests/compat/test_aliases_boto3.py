"""Aliases through boto3 against a live server: CRUD, AWS's errors, qualifier resolution."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.identities import add_role
from support.lambda_calls import FAST_WAIT, unique
from support.lambda_calls import code_and_message as error
from support.lambda_calls import function_arn as arn
from support.server import ROLE, LambdadServer
from support.zips import make_zip

pytestmark = pytest.mark.compat

SOURCE = (
    "def handler(event, context):\n"
    "    return {'arn': context.invoked_function_arn, 'version': context.function_version,"
    " 'tag': %r}\n"
)


def function_with_versions(client: Any, count: int, **config: Any) -> str:
    """A function with published versions 1..count, each of different code."""
    name = unique("al")
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": SOURCE % "v1"})},
        **config,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST_WAIT)
    for number in range(1, count + 1):
        if number > 1:
            code = make_zip({"app.py": SOURCE % f"v{number}"})
            client.update_function_code(FunctionName=name, ZipFile=code)
            client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST_WAIT)
        assert client.publish_version(FunctionName=name)["Version"] == str(number)
        # A version is Pending until its code is ready, like a new function.
        client.get_waiter("function_active_v2").wait(
            FunctionName=f"{name}:{number}", WaiterConfig=FAST_WAIT
        )
    return name


@pytest.fixture(scope="module")
def fn(lambda_client: Any) -> str:
    """A function with versions 1, 2 and 3 (aliases made by tests use unique names)."""
    return function_with_versions(lambda_client, 3)


def test_alias_lifecycle(lambda_client: Any, fn: str) -> None:
    created = lambda_client.create_alias(
        FunctionName=fn, Name="live", FunctionVersion="1", Description="production"
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AliasArn"] == arn(fn, "live")
    assert (created["Name"], created["FunctionVersion"]) == ("live", "1")
    assert created["Description"] == "production"
    assert "RoutingConfig" not in created

    got = lambda_client.get_alias(FunctionName=arn(fn), Name="live")
    assert got["RevisionId"] == created["RevisionId"]

    updated = lambda_client.update_alias(
        FunctionName=fn,
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.25}},
        RevisionId=created["RevisionId"],
    )
    assert updated["FunctionVersion"] == "2"
    assert updated["Description"] == "production"  # kept when not sent
    assert updated["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.25}}
    assert updated["RevisionId"] != created["RevisionId"]

    # A RoutingConfig without weights drops the routing.
    plain = lambda_client.update_alias(FunctionName=fn, Name="live", RoutingConfig={})
    assert "RoutingConfig" not in plain
    assert plain["FunctionVersion"] == "2"

    lambda_client.delete_alias(FunctionName=fn, Name="live")
    with pytest.raises(ClientError) as info:
        lambda_client.get_alias(FunctionName=fn, Name="live")
    assert error(info) == ("ResourceNotFoundException", f"Cannot find alias arn: {arn(fn, 'live')}")


def test_alias_errors_are_aws_errors(lambda_client: Any, fn: str) -> None:
    name = unique("dup")
    lambda_client.create_alias(FunctionName=fn, Name=name, FunctionVersion="1")
    with pytest.raises(ClientError) as info:
        lambda_client.create_alias(FunctionName=fn, Name=name, FunctionVersion="2")
    assert error(info) == ("ResourceConflictException", f"Alias already exists: {arn(fn, name)}")

    with pytest.raises(ClientError) as info:
        lambda_client.create_alias(FunctionName=fn, Name=unique("al"), FunctionVersion="99")
    assert error(info) == ("ResourceNotFoundException", f"Function not found: {arn(fn, '99')}")

    missing = unique("missing")
    with pytest.raises(ClientError) as info:
        lambda_client.create_alias(FunctionName=missing, Name="live", FunctionVersion="1")
    assert error(info) == ("ResourceNotFoundException", f"Function not found: {arn(missing)}")

    with pytest.raises(ClientError) as info:
        lambda_client.update_alias(FunctionName=fn, Name=unique("al"), FunctionVersion="1")
    assert error(info)[0] == "ResourceNotFoundException"

    with pytest.raises(ClientError) as info:
        lambda_client.update_alias(FunctionName=fn, Name=name, RevisionId="stale")
    assert error(info)[0] == "PreconditionFailedException"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"Name": "123", "FunctionVersion": "1"},
            "1 validation error detected: Value '123' at 'name' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
        ),
        (
            {"Name": "a" * 129, "FunctionVersion": "1"},
            f"1 validation error detected: Value '{'a' * 129}' at 'name' failed to satisfy "
            "constraint: Member must have length less than or equal to 128",
        ),
        (
            {"Name": "ok", "FunctionVersion": "v1"},
            "1 validation error detected: Value 'v1' at 'functionVersion' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            r"(\$LATEST(\.PUBLISHED)?|[0-9]+)",
        ),
        (
            {"Name": "bad name", "FunctionVersion": "v1"},
            "2 validation errors detected: Value 'bad name' at 'name' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "(?!^[0-9]+$)([a-zA-Z0-9-_]+); Value 'v1' at 'functionVersion' failed to satisfy "
            r"constraint: Member must satisfy regular expression pattern: "
            r"(\$LATEST(\.PUBLISHED)?|[0-9]+)",
        ),
        (
            {
                "Name": "ok",
                "FunctionVersion": "1",
                "RoutingConfig": {"AdditionalVersionWeights": {"2": 1.5}},
            },
            "1 validation error detected: Value '{2=1.5}' at "
            "'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value "
            "must satisfy constraint: [Member must have value less than or equal to 1.0, Member "
            "must have value greater than or equal to 0.0, Member must not be null]",
        ),
    ],
)
def test_invalid_alias_parameters(
    raw_client: Any, fn: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as info:
        raw_client.create_alias(FunctionName=fn, **params)
    assert error(info) == ("ValidationException", message)


@pytest.mark.parametrize(
    ("version", "weights", "message"),
    [
        (
            "1",
            {"2": 0.1, "3": 0.1},
            "Number of items in AdditionalVersionWeights cannot be greater than 1",
        ),
        (
            "$LATEST",
            {"2": 0.1},
            "$LATEST is not supported for an alias pointing to more than 1 version",
        ),
        (
            "2",
            {"2": 0.1},
            "Invalid function version 2. Function version 2 is already included in routing "
            "configuration.",
        ),
    ],
)
def test_routing_rules(
    lambda_client: Any, fn: str, version: str, weights: dict[str, float], message: str
) -> None:
    with pytest.raises(ClientError) as info:
        lambda_client.create_alias(
            FunctionName=fn,
            Name=unique("al"),
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )
    assert error(info) == ("InvalidParameterValueException", message)


def test_weighted_versions_need_the_same_role(lambda_client: Any, server: LambdadServer) -> None:
    name = function_with_versions(lambda_client, 1)
    logs_only = {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}
    other_role = add_role(server, "aliases-other", {"Statement": [logs_only]})
    lambda_client.update_function_configuration(FunctionName=name, Role=other_role)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST_WAIT)
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"
    with pytest.raises(ClientError) as info:
        lambda_client.create_alias(
            FunctionName=name,
            Name="canary",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
        )
    assert error(info)[0] == "InvalidParameterValueException"


def test_list_aliases_filters_and_paginates(lambda_client: Any) -> None:
    name = function_with_versions(lambda_client, 2)
    for alias, version in [("a1", "1"), ("a2", "2"), ("a3", "1"), ("a4", "1"), ("a5", "2")]:
        lambda_client.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)
    first = lambda_client.list_aliases(FunctionName=name, MaxItems=2)
    assert [a["Name"] for a in first["Aliases"]] == ["a1", "a2"]
    assert "NextMarker" in first
    paginator = lambda_client.get_paginator("list_aliases")
    pages = list(paginator.paginate(FunctionName=name, PaginationConfig={"PageSize": 2}))
    assert [a["Name"] for p in pages for a in p["Aliases"]] == ["a1", "a2", "a3", "a4", "a5"]
    assert len(pages) == 3
    only_one = lambda_client.list_aliases(FunctionName=name, FunctionVersion="1")
    assert [a["Name"] for a in only_one["Aliases"]] == ["a1", "a3", "a4"]
    assert all(a["AliasArn"] == arn(name, a["Name"]) for a in only_one["Aliases"])


def test_an_alias_works_wherever_a_qualifier_does(lambda_client: Any, fn: str) -> None:
    alias = unique("q")
    lambda_client.create_alias(FunctionName=fn, Name=alias, FunctionVersion="2")
    for kwargs in (
        {"FunctionName": fn, "Qualifier": alias},
        {"FunctionName": f"{fn}:{alias}"},
        {"FunctionName": arn(fn, alias)},
    ):
        config = lambda_client.get_function_configuration(**kwargs)
        assert (config["Version"], config["FunctionArn"]) == ("2", arn(fn, alias))
        got = lambda_client.get_function(**kwargs)
        assert got["Configuration"]["Version"] == "2"

    with pytest.raises(ClientError) as info:
        lambda_client.get_function(FunctionName=fn, Qualifier="nosuchalias")
    assert error(info) == (
        "ResourceNotFoundException",
        f"Cannot find alias arn: {arn(fn, 'nosuchalias')}",
    )

    # A version an alias routes to cannot be deleted; an alias is not deleted this way.
    with pytest.raises(ClientError) as info:
        lambda_client.delete_function(FunctionName=fn, Qualifier="2")
    code, message = error(info)
    assert code == "ResourceConflictException"
    assert message.startswith("Unable to delete version because the following aliases reference")
    assert alias in message
    with pytest.raises(ClientError) as info:
        lambda_client.delete_function(FunctionName=fn, Qualifier=alias)
    assert error(info)[0] == "InvalidParameterValueException"


def test_deleting_a_missing_version_succeeds(lambda_client: Any) -> None:
    name = function_with_versions(lambda_client, 1)
    response = lambda_client.delete_function(FunctionName=name, Qualifier="7")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    lambda_client.delete_function(FunctionName=name, Qualifier="1")
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]
    assert versions[0]["FunctionArn"] == arn(name, "$LATEST")


def invoke(client: Any, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    response = client.invoke(**kwargs)
    return json.loads(response["Payload"].read()), response


def test_invoke_through_an_alias(lambda_client: Any, fn: str) -> None:
    alias = unique("inv")
    lambda_client.create_alias(FunctionName=fn, Name=alias, FunctionVersion="3")
    body, response = invoke(lambda_client, FunctionName=fn, Qualifier=alias)
    assert response["ExecutedVersion"] == "3"
    assert body == {"arn": arn(fn, alias), "version": "3", "tag": "v3"}

    body, response = invoke(lambda_client, FunctionName=arn(fn, "$LATEST"))
    assert response["ExecutedVersion"] == "$LATEST"
    assert body["arn"] == arn(fn, "$LATEST")
    body, _ = invoke(lambda_client, FunctionName=fn)
    assert body["arn"] == arn(fn)

    lambda_client.update_alias(FunctionName=fn, Name=alias, FunctionVersion="1")
    body, response = invoke(lambda_client, FunctionName=f"{fn}:{alias}")
    assert (response["ExecutedVersion"], body["tag"]) == ("1", "v1")


def test_weighted_alias_splits_invocations(lambda_client: Any, fn: str) -> None:
    alias = unique("canary")
    lambda_client.create_alias(
        FunctionName=fn,
        Name=alias,
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    executed: Counter[str] = Counter()
    for _ in range(400):
        body, response = invoke(lambda_client, FunctionName=fn, Qualifier=alias)
        assert body["tag"] == f"v{response['ExecutedVersion']}"
        executed[response["ExecutedVersion"]] += 1
    assert set(executed) == {"1", "2"}
    share = executed["2"] / 400
    assert 0.05 <= share <= 0.15, executed
