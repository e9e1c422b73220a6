"""Functions reach the services the operator names, and lambdad itself, from network none.

A real S3-compatible server (moto's server mode) runs on loopback; lambdad runs
with `--aws-endpoint s3=URL` and the default network mode `none`. The function
holds only `import boto3` code (boto3 from a layer: see `support.sdk_layer`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from compat.invoke.conftest import running_server
from support.identities import add_role
from support.invoke import InvokeServer, create_function, invoke_json
from support.lambda_calls import function_arn, unique
from support.s3_server import S3Server, running_s3_server
from support.sdk_layer import boto3_layer_zip
from support.server import ACCOUNT_ID, boto3_client

pytestmark = pytest.mark.compat

PROBE = """
import json, os, socket

import boto3
from botocore.exceptions import ClientError


def ask(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return "connected"
    except OSError as e:
        return type(e).__name__


def handler(event, context):
    if event.get("action") == "buckets":
        names = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
        return {"buckets": names, "endpoint": os.environ.get("AWS_ENDPOINT_URL_S3")}
    if event.get("action") == "ports":
        return {str(port): ask(port) for port in event["ports"]}
    if event.get("action") == "invoke":
        try:
            answer = boto3.client("lambda").invoke(
                FunctionName=event["target"], Payload=json.dumps({"from": context.function_name})
            )
        except ClientError as e:
            return {"error": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]}
        return {"status": answer["StatusCode"], "payload": json.loads(answer["Payload"].read())}
    return {"echo": event}
"""


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Iterator[InvokeServer]:
    with running_server(tmp_path_factory, "endpoints", ("--aws-endpoint", f"s3={s3.url}")) as s:
        yield s


@pytest.fixture(scope="module")
def lam(server: InvokeServer) -> Any:
    return boto3_client(server.url)


@pytest.fixture(scope="module")
def probe(lam: Any, server: InvokeServer) -> str:
    """The probe's role may invoke the functions named `allowed-*` (and nothing else)."""
    allowed = {
        "Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": function_arn("allowed-*"),
    }
    role = add_role(server, "probe", {"Version": "2012-10-17", "Statement": [allowed]})
    layer = lam.publish_layer_version(
        LayerName=unique("boto3"), Content={"ZipFile": boto3_layer_zip()}
    )["LayerVersionArn"]
    return create_function(
        lam,
        unique("probe"),
        {"app.py": PROBE},
        role=role,
        Layers=[layer],
        MemorySize=512,
        Timeout=60,
    )


def test_a_function_lists_buckets_through_the_configured_endpoint(
    lam: Any, s3: S3Server, probe: str
) -> None:
    bucket = unique("bucket")
    s3.client().create_bucket(Bucket=bucket)
    got, response = invoke_json(lam, probe, {"action": "buckets"})
    assert "FunctionError" not in response, got
    assert bucket in got["buckets"]
    # The function sees a loopback address of its own sandbox, not the server's.
    assert got["endpoint"] != s3.url and got["endpoint"].startswith("http://127.0.0.1:")


def test_nothing_else_on_the_host_is_reachable(
    lam: Any, s3: S3Server, server: InvokeServer, probe: str
) -> None:
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen(4)
    try:
        ports = [other.getsockname()[1], s3.port, server.port]
        got, response = invoke_json(lam, probe, {"action": "ports", "ports": ports})
    finally:
        other.close()
    assert "FunctionError" not in response, got
    assert got == {str(port): "ConnectionRefusedError" for port in ports}


ECHO = {"app.py": "def handler(event, context):\n    return event\n"}


def test_a_function_invokes_another_with_boto3_and_no_endpoint_url(lam: Any, probe: str) -> None:
    """With the credentials its environment was given: its role's, held to its policy."""
    allowed = create_function(lam, unique("allowed"), ECHO)
    got, response = invoke_json(lam, probe, {"action": "invoke", "target": allowed})
    assert "FunctionError" not in response, got
    assert got == {"status": 200, "payload": {"from": probe}}

    other = create_function(lam, unique("other"), ECHO)
    got, response = invoke_json(lam, probe, {"action": "invoke", "target": other})
    assert "FunctionError" not in response, got
    assert got == {
        "error": "AccessDeniedException",
        "message": f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/probe/{probe} is not "
        f"authorized to perform: lambda:InvokeFunction on resource: {function_arn(other)} "
        "because no identity-based policy allows the lambda:InvokeFunction action",
    }
