"""Regions: each request's region is its SigV4 credential scope's; one server holds
functions of several regions, each seen only from its own."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import FAST_WAIT, unique
from support.lambda_calls import function_arn as arn
from support.server import REGION, ROLE, LambdadServer, boto3_client
from support.zips import make_zip

pytestmark = pytest.mark.compat

OTHER = "eu-west-1"
SOURCE = (
    "import os\n"
    "def handler(event, context):\n"
    "    return {'region': os.environ['AWS_REGION'], 'arn': context.invoked_function_arn,"
    " 'tag': %r}\n"
)


@pytest.fixture(scope="module")
def west(server: LambdadServer) -> Any:
    """A client whose requests are signed for eu-west-1."""
    return boto3_client(server.url, region=OTHER)


def create(client: Any, name: str, tag: str) -> dict[str, Any]:
    created: dict[str, Any] = client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": SOURCE % tag})},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST_WAIT)
    return created


def names_in(client: Any) -> list[str]:
    pages = client.get_paginator("list_functions").paginate()
    return [f["FunctionName"] for page in pages for f in page["Functions"]]


def test_functions_of_two_regions_on_one_server(
    lambda_client: Any, west: Any, server: LambdadServer
) -> None:
    east_name, west_name = unique("east"), unique("west")
    east_fn = create(lambda_client, east_name, "east")
    west_fn = create(west, west_name, "west")
    assert east_fn["FunctionArn"] == arn(east_name)
    assert west_fn["FunctionArn"] == arn(west_name, region=OTHER)
    assert west_fn["RuntimeVersionConfig"]["RuntimeVersionArn"].startswith(
        f"arn:aws:lambda:{OTHER}::"
    )

    east_out = json.loads(lambda_client.invoke(FunctionName=east_name)["Payload"].read())
    west_out = json.loads(west.invoke(FunctionName=west_name)["Payload"].read())
    assert east_out == {"region": REGION, "arn": arn(east_name), "tag": "east"}
    assert west_out == {"region": OTHER, "arn": arn(west_name, region=OTHER), "tag": "west"}

    # Each region sees its own functions only.
    assert west_name in names_in(west) and east_name not in names_in(west)
    assert east_name in names_in(lambda_client) and west_name not in names_in(lambda_client)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=west_name)
    with pytest.raises(west.exceptions.ResourceNotFoundException):
        west.get_function(FunctionName=east_name)

    west.publish_version(FunctionName=west_name)
    west.get_waiter("function_active_v2").wait(
        FunctionName=f"{west_name}:1", WaiterConfig=FAST_WAIT
    )
    alias = west.create_alias(FunctionName=west_name, Name="live", FunctionVersion="1")
    assert alias["AliasArn"] == arn(west_name, "live", region=OTHER)
    body = json.loads(west.invoke(FunctionName=west_name, Qualifier="live")["Payload"].read())
    assert body["arn"] == arn(west_name, "live", region=OTHER)

    # An unsigned request is in the server's default region.
    unsigned = httpx.get(f"{server.url}/2015-03-31/functions/{east_name}")
    assert unsigned.json()["Configuration"]["FunctionArn"] == arn(east_name)
    west.delete_function(FunctionName=west_name)
    assert west_name not in names_in(west)


def test_a_function_arn_of_another_region_is_not_reachable(lambda_client: Any, west: Any) -> None:
    name = unique("reg")
    create(lambda_client, name, "east")
    with pytest.raises(ClientError) as info:
        west.get_function(FunctionName=arn(name))
    assert info.value.response["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": f"Functions from '{REGION}' are not reachable in this region ('{OTHER}')",
    }
    with pytest.raises(ClientError) as info:
        west.invoke(FunctionName=arn(name))
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
