"""Resource policies through boto3, on SQLite and PostgreSQL, rendered as AWS renders them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import error_of as error
from support.lambda_calls import function_arn as arn
from support.lambda_calls import new_function
from support.server import ACCOUNT_ID, ROLE
from support.zips import handler_zip

pytestmark = pytest.mark.compat

BUCKET = "arn:aws:s3:::my-bucket"


def test_statements_are_rendered_as_aws_renders_them(lambda_client: Any) -> None:
    name = new_function(lambda_client, "pol")
    added = lambda_client.add_permission(
        FunctionName=name,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=BUCKET,
        SourceAccount=ACCOUNT_ID,
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    s3 = {
        "Sid": "s3",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": arn(name),
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": ACCOUNT_ID},
            "ArnLike": {"AWS:SourceArn": BUCKET},
        },
    }
    assert json.loads(added["Statement"]) == s3
    assert added["Statement"] == json.dumps(s3, separators=(",", ":"))

    lambda_client.add_permission(
        FunctionName=name,
        StatementId="xaccount",
        Action="lambda:GetFunction",
        Principal="223456789012",
    )
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="org",
        Action="lambda:InvokeFunction",
        Principal="*",
        PrincipalOrgID="o-a1b2c3d4e5",
    )
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    policy = lambda_client.get_policy(FunctionName=name)
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17"
    assert document["Id"] == "default"
    assert [s["Sid"] for s in document["Statement"]] == ["s3", "xaccount", "org", "url"]
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["s3"] == s3
    assert by_sid["xaccount"]["Principal"] == {"AWS": "arn:aws:iam::223456789012:root"}
    assert "Condition" not in by_sid["xaccount"]
    assert by_sid["org"]["Principal"] == "*"
    assert by_sid["org"]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    assert by_sid["url"]["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
    assert policy["RevisionId"]


def test_revision_ids_guard_changes(lambda_client: Any) -> None:
    name = new_function(lambda_client, "pol")
    function_revision = lambda_client.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    with pytest.raises(ClientError) as exc:
        lambda_client.add_permission(
            FunctionName=name,
            StatementId="a",
            Action="lambda:InvokeFunction",
            Principal="sns.amazonaws.com",
            RevisionId=str(uuid.uuid4()),
        )
    assert error(exc) == (
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API "
        "to retrieve the latest Revision Id",
        412,
    )
    # Before a policy exists, the function's RevisionId is the one a caller has.
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="a",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        RevisionId=function_revision,
    )
    first = lambda_client.get_policy(FunctionName=name)["RevisionId"]
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="b",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        RevisionId=first,
    )
    second = lambda_client.get_policy(FunctionName=name)["RevisionId"]
    assert second != first
    with pytest.raises(ClientError) as exc:
        lambda_client.remove_permission(FunctionName=name, StatementId="a", RevisionId=first)
    assert error(exc)[0] == "PreconditionFailedException"
    lambda_client.remove_permission(FunctionName=name, StatementId="a", RevisionId=second)
    document = json.loads(lambda_client.get_policy(FunctionName=name)["Policy"])
    assert [s["Sid"] for s in document["Statement"]] == ["b"]


def test_duplicate_and_unknown_statements(lambda_client: Any) -> None:
    name = new_function(lambda_client, "pol")
    with pytest.raises(ClientError) as exc:
        lambda_client.get_policy(FunctionName=name)
    assert error(exc) == (
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        404,
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.remove_permission(FunctionName=name, StatementId="nope")
    assert error(exc) == (
        "ResourceNotFoundException",
        "No policy is associated with the given resource.",
        404,
    )
    permission = {
        "FunctionName": name,
        "StatementId": "dup",
        "Action": "lambda:InvokeFunction",
        "Principal": "events.amazonaws.com",
    }
    lambda_client.add_permission(**permission)
    with pytest.raises(ClientError) as exc:
        lambda_client.add_permission(**permission)
    assert error(exc) == (
        "ResourceConflictException",
        "The statement id (dup) provided already exists. Please provide a new statement id, "
        "or remove the existing statement.",
        409,
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.remove_permission(FunctionName=name, StatementId="nope")
    assert error(exc) == (
        "ResourceNotFoundException",
        "Statement nope is not found in resource policy.",
        404,
    )
    lambda_client.remove_permission(FunctionName=name, StatementId="dup")
    with pytest.raises(ClientError) as exc:
        lambda_client.get_policy(FunctionName=name)
    assert error(exc)[0] == "ResourceNotFoundException"


def test_policies_per_version_and_function_lifecycle(lambda_client: Any) -> None:
    name = new_function(lambda_client, "pol", publish=True)
    lambda_client.add_permission(
        FunctionName=name,
        Qualifier="1",
        StatementId="same",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )
    # Sids are unique per function + qualifier: the unqualified policy may reuse one.
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="same",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )
    version_policy = json.loads(lambda_client.get_policy(FunctionName=f"{name}:1")["Policy"])
    assert version_policy["Statement"][0]["Resource"] == arn(name, "1")
    with pytest.raises(ClientError) as exc:
        lambda_client.add_permission(
            FunctionName=name,
            Qualifier="$LATEST",
            StatementId="latest",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
        )
    assert error(exc) == (
        "InvalidParameterValueException",
        "We currently do not support adding policies for $LATEST.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.add_permission(
            FunctionName=name,
            Qualifier="9",
            StatementId="x",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
        )
    assert error(exc) == ("ResourceNotFoundException", f"Function not found: {arn(name, '9')}", 404)

    lambda_client.delete_function(FunctionName=name, Qualifier="1")
    lambda_client.get_policy(FunctionName=name)
    lambda_client.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_policy(FunctionName=name)
    assert error(exc) == ("ResourceNotFoundException", f"Function not found: {arn(name)}", 404)
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": handler_zip("again")},
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.get_policy(FunctionName=name)
    assert error(exc)[1] == "The resource you requested does not exist."


@pytest.mark.parametrize(
    ("member", "value", "field"),
    [
        ("StatementId", "has space", "statementId"),
        ("Action", "s3:GetObject", "action"),
        ("SourceAccount", "12345", "sourceAccount"),
        ("PrincipalOrgID", "org-1", "principalOrgID"),
        ("SourceArn", "not-an-arn", "sourceArn"),
        ("FunctionUrlAuthType", "OPEN", "functionUrlAuthType"),
    ],
)
def test_invalid_members(
    raw_client: Any, lambda_client: Any, member: str, value: str, field: str
) -> None:
    name = new_function(lambda_client, "pol")
    params = {
        "FunctionName": name,
        "StatementId": "ok",
        "Action": "lambda:InvokeFunction",
        "Principal": "s3.amazonaws.com",
        member: value,
    }
    with pytest.raises(ClientError) as exc:
        raw_client.add_permission(**params)
    code, message, status = error(exc)
    assert (code, status) == ("ValidationException", 400)
    assert f"Value '{value}' at '{field}' failed to satisfy constraint" in message


def test_invalid_principal(lambda_client: Any) -> None:
    name = new_function(lambda_client, "pol")
    with pytest.raises(ClientError) as exc:
        lambda_client.add_permission(
            FunctionName=name,
            StatementId="bad",
            Action="lambda:InvokeFunction",
            Principal="somebody",
        )
    assert error(exc) == (
        "InvalidParameterValueException",
        "The provided principal was invalid. Please check the principal and try again.",
        400,
    )


def test_policy_size_is_bounded(lambda_client: Any) -> None:
    name = new_function(lambda_client, "pol")
    source = "arn:aws:s3:::" + "b" * 900
    with pytest.raises(ClientError) as exc:
        for n in range(40):
            lambda_client.add_permission(
                FunctionName=name,
                StatementId=f"s{n}",
                Action="lambda:InvokeFunction",
                Principal="s3.amazonaws.com",
                SourceArn=source,
            )
    code, message, status = error(exc)
    assert (code, status) == ("PolicyLengthExceededException", 400)
    assert "is bigger than the limit (20480)" in message
    assert len(lambda_client.get_policy(FunctionName=name)["Policy"]) <= 20480


def test_alias_policies(lambda_client: Any) -> None:
    name = new_function(lambda_client, "pol", publish=True)
    alias = lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        lambda_client.add_permission(
            FunctionName=name,
            Qualifier="live",
            StatementId="a",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            RevisionId=str(uuid.uuid4()),
        )
    assert error(exc)[0] == "PreconditionFailedException"
    # Before the alias has a policy, the alias's own RevisionId is the one a caller has.
    added = lambda_client.add_permission(
        FunctionName=f"{name}:live",
        StatementId="a",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        RevisionId=alias["RevisionId"],
    )
    assert json.loads(added["Statement"])["Resource"] == arn(name, "live")
    policy = json.loads(lambda_client.get_policy(FunctionName=name, Qualifier="live")["Policy"])
    assert [s["Resource"] for s in policy["Statement"]] == [arn(name, "live")]
    with pytest.raises(ClientError) as exc:
        lambda_client.get_policy(FunctionName=name, Qualifier="1")
    assert error(exc)[1] == "The resource you requested does not exist."

    lambda_client.delete_alias(FunctionName=name, Name="live")
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        lambda_client.get_policy(FunctionName=name, Qualifier="live")
    assert error(exc)[1] == "The resource you requested does not exist."
