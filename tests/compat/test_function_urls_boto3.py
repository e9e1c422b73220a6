"""Function URL configs through boto3, on SQLite and PostgreSQL, as AWS answers them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import error_of as error
from support.lambda_calls import function_arn as arn
from support.lambda_calls import new_function, unique
from support.server import REGION, LambdadServer

pytestmark = pytest.mark.compat


def url_pattern(server: LambdadServer) -> str:
    return rf"^http://[a-z0-9]{{32}}\.lambda-url\.{REGION}\.localhost:{server.port}/$"


def test_create_get_update_list_delete(lambda_client: Any, server: LambdadServer) -> None:
    name = new_function(lambda_client, "url")
    created = lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert re.match(url_pattern(server), created["FunctionUrl"])
    assert created["FunctionArn"] == arn(name)
    assert created["AuthType"] == "NONE"
    assert created["InvokeMode"] == "BUFFERED"
    assert "Cors" not in created
    assert created["CreationTime"].endswith("Z")

    got = lambda_client.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == created["FunctionUrl"]
    assert got["CreationTime"] == created["CreationTime"]
    assert got["LastModifiedTime"] >= got["CreationTime"]

    cors = {
        "AllowOrigins": ["https://example.com"],
        "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["x-custom"],
        "ExposeHeaders": ["x-out"],
        "MaxAge": 300,
        "AllowCredentials": True,
    }
    updated = lambda_client.update_function_url_config(FunctionName=name, Cors=cors)
    assert updated["Cors"] == cors
    assert updated["FunctionUrl"] == created["FunctionUrl"]  # the URL never changes
    assert updated["AuthType"] == "NONE"
    # Cors {} clears it; the rest stays.
    cleared = lambda_client.update_function_url_config(FunctionName=name, Cors={})
    assert "Cors" not in cleared

    listed = lambda_client.list_function_url_configs(FunctionName=name)
    assert [c["FunctionUrl"] for c in listed["FunctionUrlConfigs"]] == [created["FunctionUrl"]]

    lambda_client.delete_function_url_config(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function_url_config(FunctionName=name)
    assert error(exc) == (
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        404,
    )
    assert lambda_client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []


def test_url_on_an_alias_is_its_own_and_goes_with_it(lambda_client: Any) -> None:
    name = new_function(lambda_client, "url", publish=True)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    own = lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE")
    live = lambda_client.create_function_url_config(
        FunctionName=name, Qualifier="live", AuthType="AWS_IAM"
    )
    assert live["FunctionArn"] == arn(name, "live")
    assert live["AuthType"] == "AWS_IAM"
    assert live["FunctionUrl"] != own["FunctionUrl"]
    by_arn = lambda_client.get_function_url_config(FunctionName=arn(name, "live"))
    assert by_arn["FunctionUrl"] == live["FunctionUrl"]
    page = lambda_client.list_function_url_configs(FunctionName=name, MaxItems=1)
    assert len(page["FunctionUrlConfigs"]) == 1
    rest = lambda_client.list_function_url_configs(FunctionName=name, Marker=page["NextMarker"])
    assert {c["FunctionArn"] for c in page["FunctionUrlConfigs"] + rest["FunctionUrlConfigs"]} == {
        arn(name),
        arn(name, "live"),
    }
    assert "NextMarker" not in rest

    lambda_client.delete_alias(FunctionName=name, Name="live")
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function_url_config(FunctionName=name, Qualifier="live")
    assert error(exc)[0] == "ResourceNotFoundException"
    lambda_client.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function_url_config(FunctionName=name)
    assert error(exc)[0] == "ResourceNotFoundException"


def test_a_second_config_on_the_same_qualifier_conflicts(lambda_client: Any) -> None:
    name = new_function(lambda_client, "url")
    lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE")
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert error(exc) == (
        "ResourceConflictException",
        f"Failed to create function url config for [functionArn = {arn(name)}]. "
        "Error message:  FunctionUrlConfig exists for this Lambda function",
        409,
    )


@pytest.mark.parametrize("qualifier", ["1", "$LATEST"])
def test_a_version_qualifier_is_refused(lambda_client: Any, qualifier: str) -> None:
    name = new_function(lambda_client, "url", publish=True)
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function_url_config(
            FunctionName=name, Qualifier=qualifier, AuthType="NONE"
        )
    assert error(exc) == (
        "ValidationException",
        f"1 validation error detected: Value '{qualifier}' at 'qualifier' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)",
        400,
    )


def test_missing_function_or_alias_is_not_found(lambda_client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function_url_config(FunctionName=unique("none"), AuthType="NONE")
    assert error(exc)[0::2] == ("ResourceNotFoundException", 404)
    name = new_function(lambda_client, "url")
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function_url_config(
            FunctionName=name, Qualifier="nope", AuthType="NONE"
        )
    assert error(exc)[0::2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_url_config(FunctionName=name, AuthType="NONE")
    assert error(exc)[0::2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        lambda_client.delete_function_url_config(FunctionName=name)
    assert error(exc)[0::2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        lambda_client.list_function_url_configs(FunctionName=unique("none"))
    assert error(exc)[0::2] == ("ResourceNotFoundException", 404)


def test_bad_settings_are_refused_and_nothing_is_created(
    lambda_client: Any, raw_client: Any
) -> None:
    name = new_function(lambda_client, "url")
    with pytest.raises(ClientError) as exc:
        raw_client.create_function_url_config(FunctionName=name, AuthType="OPEN")
    assert error(exc) == (
        "ValidationException",
        "1 validation error detected: Value 'OPEN' at 'authType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [AWS_IAM, NONE]",
        400,
    )
    with pytest.raises(ClientError) as exc:
        raw_client.create_function_url_config(
            FunctionName=name, AuthType="NONE", Cors={"MaxAge": 86401}
        )
    assert error(exc) == (
        "ValidationException",
        "1 validation error detected: Value '86401' at 'cors.maxAge' failed to satisfy "
        "constraint: Member must have value less than or equal to 86400",
        400,
    )
    with pytest.raises(ClientError) as exc:
        raw_client.create_function_url_config(FunctionName=name)
    assert error(exc)[0] == "ValidationException"
    assert lambda_client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []


def test_invoke_mode_response_stream(lambda_client: Any) -> None:
    name = new_function(lambda_client, "url")
    created = lambda_client.create_function_url_config(
        FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )
    assert created["InvokeMode"] == "RESPONSE_STREAM"
    got = lambda_client.get_function_url_config(FunctionName=name)
    assert got["InvokeMode"] == "RESPONSE_STREAM"
    updated = lambda_client.update_function_url_config(FunctionName=name, InvokeMode="BUFFERED")
    assert updated["InvokeMode"] == "BUFFERED"
