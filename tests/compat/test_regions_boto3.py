"""Regions: each request's region is its SigV4 credential scope's; one server holds
functions of several regions, each seen only from its own."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import FAST_WAIT, unique
from support.lambda_calls import function_arn as arn
from support.server import ACCOUNT_ID as ACCOUNT
from support.server import REGION, ROLE, LambdadServer, boto3_client, http_auth, signed_get
from support.waiting import wait_until
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


def deploy(client: Any, name: str, app: str, **config: Any) -> dict[str, Any]:
    """An Active python function whose app.py is `app`."""
    created: dict[str, Any] = client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": app})},
        **config,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST_WAIT)
    return created


def create(client: Any, name: str, tag: str) -> dict[str, Any]:
    return deploy(client, name, SOURCE % tag)


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

    # A request signed for the default region is in it.
    east = httpx.get(f"{server.url}/2015-03-31/functions/{east_name}", auth=http_auth(server.url))
    assert east.json()["Configuration"]["FunctionArn"] == arn(east_name)
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


TWIN_SOURCE = (
    "import json, os\n"
    "def handler(event, context):\n"
    "    print(json.dumps({'ran': %r, 'event': event}))\n"
    "    return {'region': os.environ['AWS_REGION'], 'tag': %r,"
    " 'memory': context.memory_limit_in_mb}\n"
)


def twin(client: Any, name: str, tag: str, memory: int) -> None:
    deploy(client, name, TWIN_SOURCE % (tag, tag), MemorySize=memory)


def invoked(client: Any, name: str, **kwargs: Any) -> Any:
    return json.loads(client.invoke(FunctionName=name, **kwargs)["Payload"].read())


def log_messages(client: Any, server: LambdadServer, name: str) -> list[str]:
    """lambdad's logs endpoint, signed for the client's region (log groups are regional)."""
    answer = signed_get(client, f"{server.url}/_lambdad/functions/{name}/logs")
    answer.raise_for_status()
    return [str(e["message"]) for e in answer.json()["events"]]


def test_one_name_in_two_regions_is_two_functions(
    lambda_client: Any, west: Any, server: LambdadServer
) -> None:
    name = unique("twin")
    twin(lambda_client, name, "east", 128)
    twin(west, name, "west", 256)
    assert invoked(lambda_client, name) == {"region": REGION, "tag": "east", "memory": "128"}
    assert invoked(west, name) == {"region": OTHER, "tag": "west", "memory": "256"}
    east_config = lambda_client.get_function_configuration(FunctionName=name)
    west_config = west.get_function_configuration(FunctionName=name)
    assert (east_config["FunctionArn"], east_config["MemorySize"]) == (arn(name), 128)
    assert (west_config["FunctionArn"], west_config["MemorySize"]) == (arn(name, region=OTHER), 256)

    # Async events run in their own region's function (and log to its log group).
    for client, tag in ((lambda_client, "east"), (west, "west")):
        accepted = client.invoke(
            FunctionName=name, InvocationType="Event", Payload=json.dumps({"async": tag})
        )
        assert accepted["StatusCode"] == 202

    def ran(client: Any, tag: str) -> bool:
        return any(f'"async": "{tag}"' in m for m in log_messages(client, server, name))

    wait_until(
        lambda: True if ran(lambda_client, "east") and ran(west, "west") else None,
        "each region's event ran in its own function",
    )
    assert not ran(lambda_client, "west") and not ran(west, "east")
    assert all("'ran': 'east'" not in m for m in log_messages(west, server, name))

    # Versions, aliases, policies and concurrency: each region's own.
    assert west.publish_version(FunctionName=name)["Version"] == "1"
    assert west.publish_version(FunctionName=name)["Version"] == "1"  # nothing changed
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]
    west.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_alias(FunctionName=name, Name="live")
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="$LATEST")
    assert invoked(west, name, Qualifier="live")["tag"] == "west"
    assert invoked(lambda_client, name, Qualifier="live")["tag"] == "east"
    west.add_permission(
        FunctionName=name,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName=name)
    west.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(west.exceptions.TooManyRequestsException):
        west.invoke(FunctionName=name)
    assert invoked(lambda_client, name)["tag"] == "east"  # the same name, another region
    west.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    assert "ReservedConcurrentExecutions" not in lambda_client.get_function_concurrency(
        FunctionName=name
    )
    assert west.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5

    # Function URLs: each region's host reaches its own function.
    urls = {}
    for client in (lambda_client, west):
        urls[client] = client.create_function_url_config(FunctionName=name, AuthType="NONE")
        for statement, extra in (
            ("url", {"Action": "lambda:InvokeFunctionUrl", "FunctionUrlAuthType": "NONE"}),
            ("invoke", {"Action": "lambda:InvokeFunction", "InvokedViaFunctionUrl": True}),
        ):
            client.add_permission(FunctionName=name, StatementId=statement, Principal="*", **extra)
    assert f".lambda-url.{OTHER}.localhost:" in urls[west]["FunctionUrl"]
    assert f".lambda-url.{REGION}.localhost:" in urls[lambda_client]["FunctionUrl"]
    for client, tag in ((lambda_client, "east"), (west, "west")):
        host = urlsplit(urls[client]["FunctionUrl"]).netloc
        answer = httpx.get(f"{server.url}/", headers={"host": host}, timeout=30)
        assert answer.status_code == 200 and answer.json()["tag"] == tag
        url_id = host.split(".", 1)[0]
        by_path = httpx.get(f"{server.url}/lambda-url/{url_id}/", timeout=30)
        assert by_path.json()["tag"] == tag
        wrong = host.replace(f".{client.meta.region_name}.", ".ap-south-1.")
        assert httpx.get(f"{server.url}/", headers={"host": wrong}, timeout=30).status_code == 404

    # Deleting one leaves the other.
    west.delete_function(FunctionName=name)
    with pytest.raises(west.exceptions.ResourceNotFoundException):
        west.get_function(FunctionName=name)
    assert invoked(lambda_client, name, Qualifier="live")["tag"] == "east"
    assert lambda_client.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "$LATEST"
    assert lambda_client.get_policy(FunctionName=name)["Policy"]
    lambda_client.get_function_url_config(FunctionName=name)
    twin(west, name, "west-again", 128)  # the name is free again in its region
    assert invoked(west, name)["tag"] == "west-again"
    assert "ReservedConcurrentExecutions" not in west.get_function_concurrency(FunctionName=name)


def layers_in(client: Any) -> list[str]:
    pages = client.get_paginator("list_layers").paginate()
    return [entry["LayerName"] for page in pages for entry in page["Layers"]]


def test_layers_are_regional(lambda_client: Any, west: Any) -> None:
    layer = unique("lib")
    east_layer = lambda_client.publish_layer_version(
        LayerName=layer, Content={"ZipFile": make_zip({"python/lib.py": "WHERE = 'east'\n"})}
    )
    west_layer = west.publish_layer_version(
        LayerName=layer, Content={"ZipFile": make_zip({"python/lib.py": "WHERE = 'west'\n"})}
    )
    assert east_layer["Version"] == west_layer["Version"] == 1
    assert east_layer["LayerVersionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{layer}:1"
    assert west_layer["LayerVersionArn"] == f"arn:aws:lambda:{OTHER}:{ACCOUNT}:layer:{layer}:1"
    west.delete_layer_version(LayerName=layer, VersionNumber=1)
    assert lambda_client.get_layer_version(LayerName=layer, VersionNumber=1)["Version"] == 1
    assert layer in layers_in(lambda_client) and layer not in layers_in(west)

    # A function may use its own region's layers only.
    with pytest.raises(ClientError) as info:
        deploy(west, unique("layered"), SOURCE % "x", Layers=[east_layer["LayerVersionArn"]])
    assert info.value.response["Error"] == {
        "Code": "InvalidParameterValueException",
        "Message": "Layers are not in the same region as the function. "
        f"Layers are expected to be in region {OTHER}.",
    }
    name = unique("layered")
    app = "import lib\ndef handler(e, c):\n    return lib.WHERE\n"
    deploy(lambda_client, name, app, Layers=[east_layer["LayerVersionArn"]])
    assert invoked(lambda_client, name) == "east"
