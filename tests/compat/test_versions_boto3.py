"""Versions and AWS's response details through boto3 against a live server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import function_arn as arn
from support.lambda_calls import unique, wait_active, wait_updated
from support.server import ACCOUNT_ID, REGION, ROLE
from support.zips import make_zip

pytestmark = pytest.mark.compat

# The token is made once per execution environment: equal tokens, same environment.
SOURCE = (
    "import uuid\nTOKEN = uuid.uuid4().hex\n"
    "def handler(event, context):\n"
    "    return {'token': TOKEN, 'version': context.function_version, 'tag': %r}\n"
)


def code(tag: str) -> bytes:
    return make_zip({"app.py": SOURCE % tag})


def create(client: Any, name: str, **params: Any) -> dict[str, Any]:
    defaults = {"Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE}
    response: dict[str, Any] = client.create_function(
        FunctionName=name, Code={"ZipFile": code("v1")}, **(defaults | params)
    )
    return response


def invoke(client: Any, name: str, qualifier: str | None = None) -> dict[str, Any]:
    kwargs = {"FunctionName": name} | ({"Qualifier": qualifier} if qualifier else {})
    body: dict[str, Any] = json.loads(client.invoke(**kwargs)["Payload"].read())
    return body


def test_publish_on_create_and_on_code_update(lambda_client: Any) -> None:
    name = unique("ver")
    created = create(lambda_client, name, Publish=True)
    assert created["Version"] == "1"
    assert created["FunctionArn"] == arn(name)  # CreateFunction answers unqualified
    assert created["State"] == "Pending"
    assert created["StateReasonCode"] == "Creating"
    wait_active(lambda_client, name)
    wait_active(lambda_client, f"{name}:1")

    updated = lambda_client.update_function_code(
        FunctionName=name, ZipFile=code("v2"), Publish=True
    )
    assert (updated["Version"], updated["FunctionArn"]) == ("2", arn(name, "2"))
    wait_active(lambda_client, f"{name}:2")
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert [v["FunctionArn"] for v in versions] == [
        arn(name, "$LATEST"),
        arn(name, "1"),
        arn(name, "2"),
    ]
    # List entries carry what AWS's carry: no state fields, no RuntimeVersionConfig.
    for entry in versions:
        assert not {"State", "LastUpdateStatus", "RuntimeVersionConfig"} & set(entry)


def test_publish_version_when_code_or_configuration_changed(lambda_client: Any) -> None:
    name = unique("ver")
    create(lambda_client, name)
    wait_active(lambda_client, name)
    first = lambda_client.publish_version(FunctionName=name, Description="release one")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (first["Version"], first["State"]) == ("1", "Pending")
    assert "LastUpdateStatus" not in first  # versions never have one
    # Its own description is no change of $LATEST.
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "1"

    lambda_client.update_function_configuration(FunctionName=name, Description="new text")
    wait_updated(lambda_client, name)
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"

    latest = lambda_client.get_function_configuration(FunctionName=name)
    with pytest.raises(ClientError) as info:
        lambda_client.publish_version(FunctionName=name, CodeSha256="bm90IHRoZSBoYXNo")
    assert info.value.response["Error"]["Message"] == (
        "CodeSHA256 (bm90IHRoZSBoYXNo) is different from current CodeSHA256 in $LATEST "
        f"({latest['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST."
    )
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.publish_version(FunctionName=name, RevisionId=str(uuid.uuid4()))
    same = lambda_client.publish_version(
        FunctionName=name, CodeSha256=latest["CodeSha256"], RevisionId=latest["RevisionId"]
    )
    assert same["Version"] == "2"


def test_published_versions_are_immutable_with_their_own_environments(
    lambda_client: Any,
) -> None:
    name = unique("ver")
    create(lambda_client, name, Environment={"Variables": {"COLOR": "blue"}})
    wait_active(lambda_client, name)
    lambda_client.publish_version(FunctionName=name)
    wait_active(lambda_client, f"{name}:1")
    one = invoke(lambda_client, name, "1")
    assert (one["version"], one["tag"]) == ("1", "v1")

    lambda_client.update_function_code(FunctionName=name, ZipFile=code("v2"))
    wait_updated(lambda_client, name)
    lambda_client.update_function_configuration(FunctionName=name, MemorySize=256)
    wait_updated(lambda_client, name)

    assert invoke(lambda_client, name)["tag"] == "v2"
    again = invoke(lambda_client, name, "1")
    assert again == one  # same code, and the same warm environment
    version = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert (version["MemorySize"], version["Environment"]) == (
        128,
        {"Variables": {"COLOR": "blue"}},
    )


def test_tags_are_refused_on_versions_and_aliases(lambda_client: Any) -> None:
    name = unique("ver")
    create(lambda_client, name)
    for qualified in (arn(name, "1"), arn(name, "$LATEST"), arn(name, "live")):
        with pytest.raises(ClientError) as info:
            lambda_client.tag_resource(Resource=qualified, Tags={"k": "v"})
        assert info.value.response["Error"] == {
            "Code": "InvalidParameterValueException",
            "Message": "Tags on function aliases and versions are not supported. Please "
            "specify a function ARN.",
        }
    lambda_client.tag_resource(Resource=arn(name), Tags={"k": "v"})
    assert lambda_client.list_tags(Resource=arn(name))["Tags"] == {"k": "v"}


def test_environment_is_shown_when_set_even_empty(lambda_client: Any) -> None:
    name = unique("ver")
    created = create(lambda_client, name, Environment={"Variables": {}})
    assert created["Environment"] == {"Variables": {}}
    wait_active(lambda_client, name)
    updated = lambda_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"A1": "x"}}
    )
    assert updated["Environment"] == {"Variables": {"A1": "x"}}
    wait_updated(lambda_client, name)
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["LastUpdateStatusReason"] == "The function is being created."
    assert updated["LastUpdateStatusReasonCode"] == "Creating"
    listed = [
        f
        for page in lambda_client.get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if f["FunctionName"] == name
    ]
    assert listed[0]["Environment"] == {"Variables": {"A1": "x"}}
    assert not {"State", "LastUpdateStatus", "RuntimeVersionConfig"} & set(listed[0])


CREATE_MESSAGES = [
    (
        {"MemorySize": 64, "Timeout": 0},
        "ValidationException",
        "2 validation errors detected: Value '0' at 'timeout' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1; Value '64' at 'memorySize' failed "
        "to satisfy constraint: Member must have value greater than or equal to 128",
    ),
    (
        {"Role": "nope", "EphemeralStorage": {"Size": 20000}, "Architectures": ["sparc"]},
        "ValidationException",
        "3 validation errors detected: Value 'nope' at 'role' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:"
        r"role/?[a-zA-Z_0-9+=,.@\-_/]+; Value '[sparc]' at 'architectures' failed to satisfy "
        "constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
        "[x86_64, arm64], Member must not be null]; Value '20000' at 'ephemeralStorage.size' "
        "failed to satisfy constraint: Member must have value less than or equal to 10240",
    ),
    (
        {"Architectures": ["x86_64", "arm64"]},
        "ValidationException",
        "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to "
        "satisfy constraint: Member must have length less than or equal to 1",
    ),
    (
        {"Runtime": "cobol"},
        "InvalidParameterValueException",
        "Value cobol at 'runtime' failed to satisfy constraint: Member must satisfy enum value "
        "set: [",
    ),
]


@pytest.mark.parametrize(("params", "code_", "message"), CREATE_MESSAGES)
def test_create_function_validation_messages(
    raw_client: Any, params: dict[str, Any], code_: str, message: str
) -> None:
    with pytest.raises(ClientError) as info:
        create(raw_client, unique("ver"), **params)
    error = info.value.response["Error"]
    assert error["Code"] == code_
    assert error["Message"].startswith(message)
    if code_ == "ValidationException":
        assert error["Message"] == message


INVALID_NAMES = [
    (
        {"FunctionName": "fn", "Qualifier": "bad/qualifier"},
        "1 validation error detected: Value 'bad/qualifier' at 'qualifier' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: \$(LATEST(\.PUBLISHED)?)|"
        "[a-zA-Z0-9-_$]+",
    ),
    (
        {"FunctionName": "a" * 65},
        f"1 validation error detected: Value '{'a' * 65}' at 'functionName' failed to satisfy "
        "constraint: Member must have length less than or equal to 64",
    ),
    (
        {"FunctionName": "x" * 257, "Qualifier": "q" * 129},
        f"2 validation errors detected: Value '{'x' * 257}' at 'functionName' failed to "
        "satisfy constraint: Member must have length less than or equal to 256; Value "
        f"'{'q' * 129}' at 'qualifier' failed to satisfy constraint: Member must have length "
        "less than or equal to 128",
    ),
]


@pytest.mark.parametrize(("params", "message"), INVALID_NAMES)
def test_invalid_names_and_qualifiers(
    raw_client: Any, params: dict[str, Any], message: str
) -> None:
    for call in (raw_client.get_function, raw_client.get_function_configuration):
        with pytest.raises(ClientError) as info:
            call(**params)
        assert info.value.response["Error"] == {"Code": "ValidationException", "Message": message}


def test_names_of_the_newest_model(lambda_client: Any) -> None:
    name = unique("ver")
    create(lambda_client, name)
    # $LATEST.PUBLISHED and an eusc- region pass validation and are answered as AWS does.
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=name, Qualifier="$LATEST.PUBLISHED")
    with pytest.raises(ClientError) as info:
        lambda_client.get_function(
            FunctionName=f"arn:aws:lambda:eusc-de-east-1:{ACCOUNT_ID}:function:{name}"
        )
    assert info.value.response["Error"]["Message"] == (
        f"Functions from 'eusc-de-east-1' are not reachable in this region ('{REGION}')"
    )
