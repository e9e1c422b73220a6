"""An image built by the tests from scratch, pushed to a local registry (Debian's
docker-registry) and invoked: pulled when the function is created, pinned to its digest
while the tag moves on, and the new digest taken by UpdateFunctionCode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support.image_roots import busybox_rootfs, layer_of
from support.images import BuiltImage, build_image, push
from support.marks import needs_sandbox
from support.registry import registry_binary, running_registry
from support.server import LambdadServer, boto3_client

pytestmark = [
    pytest.mark.compat,
    *needs_sandbox,
    pytest.mark.skipif(registry_binary() is None, reason="docker-registry is not installed"),
]

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def image(root: Path, marker: str) -> BuiltImage:
    return build_image(
        [layer_of(root)],
        entrypoint=["/var/runtime/bootstrap"],
        cmd=["function.handler"],
        env=["PATH=/bin", f"IMAGE_VAR={marker}"],
        working_dir="/var/task",
    )


def invoke(client: Any, name: str) -> Any:
    response = client.invoke(FunctionName=name, Payload=b"{}")
    body = response["Payload"].read()
    assert "FunctionError" not in response, body
    return json.loads(body)


def test_image_pushed_to_a_registry_is_invoked(tmp_path: Path) -> None:
    root = busybox_rootfs(tmp_path / "root")
    with running_registry(tmp_path / "registry") as registry:
        first = image(root, "pushed")
        digest = push(registry.url, "team/fn", "v1", first)
        data = tmp_path / "data"
        with LambdadServer(data, args=["--image-registry", registry.url]) as server:
            client = boto3_client(server.url)
            uri = f"{ECR}/team/fn:v1"
            client.create_function(
                FunctionName="pulled", PackageType="Image", Code={"ImageUri": uri}, Role=ROLE
            )
            client.get_waiter("function_active_v2").wait(FunctionName="pulled")
            assert invoke(client, "pulled")["image_var"] == "pushed"
            code = client.get_function(FunctionName="pulled")["Code"]
            assert code["ImageUri"] == uri
            assert code["ResolvedImageUri"] == f"{ECR}/team/fn@{digest}"

            moved = image(root, "moved")
            push(registry.url, "team/fn", "v1", moved)  # the tag moves on in the registry
            assert invoke(client, "pulled")["image_var"] == "pushed"  # pinned until updated
            client.update_function_code(FunctionName="pulled", ImageUri=uri)
            client.get_waiter("function_updated_v2").wait(FunctionName="pulled")
            assert invoke(client, "pulled")["image_var"] == "moved"
            code = client.get_function(FunctionName="pulled")["Code"]
            assert code["ResolvedImageUri"] == f"{ECR}/team/fn@{moved.digest}"
