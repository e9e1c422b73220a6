"""Code from S3: CreateFunction, UpdateFunctionCode and PublishLayerVersion with S3Bucket/S3Key.

The objects live on a real S3-compatible server (moto's server mode) that
lambdad is configured with (`--aws-endpoint s3=URL`); the server signs its
GetObject with its own process's AWS credentials.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import error_of, unique
from support.s3_server import S3Server, running_s3_server
from support.server import ROLE, LambdadServer, boto3_client
from support.zips import bomb_zip, handler_zip, make_zip, symlink_zip

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Iterator[LambdadServer]:
    data = tmp_path_factory.mktemp("s3code") / "data"
    with LambdadServer(data, args=["--aws-endpoint", f"s3={s3.url}"]) as served:
        yield served


@pytest.fixture(scope="module")
def lam(server: LambdadServer) -> Any:
    return boto3_client(server.url)


@pytest.fixture(scope="module")
def bucket(s3: S3Server) -> str:
    name = unique("code")
    client = s3.client()
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def put(s3: S3Server, bucket: str, data: bytes) -> tuple[str, str]:
    key = unique("pkg") + ".zip"
    answer = s3.client().put_object(Bucket=bucket, Key=key, Body=data)
    return key, answer["VersionId"]


def create(lam: Any, code: dict[str, str]) -> dict[str, Any]:
    answer: dict[str, Any] = lam.create_function(
        FunctionName=unique("fn"), Runtime="python3.12", Role=ROLE, Handler="app.handler", Code=code
    )
    return answer


def test_create_and_update_function_code_from_s3(lam: Any, s3: S3Server, bucket: str) -> None:
    first, second = handler_zip("1"), handler_zip("2")
    key, _ = put(s3, bucket, first)
    created = create(lam, {"S3Bucket": bucket, "S3Key": key})
    assert created["CodeSha256"] == sha256(first) and created["CodeSize"] == len(first)
    name = created["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    # A later object version under the same key; the older one is named by its version.
    _, old_version = put_same_key(s3, bucket, key, second)
    updated = lam.update_function_code(
        FunctionName=name, S3Bucket=bucket, S3Key=key, S3ObjectVersion=old_version
    )
    assert updated["CodeSha256"] == sha256(first)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    updated = lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key=key)
    assert updated["CodeSha256"] == sha256(second)


def put_same_key(s3: S3Server, bucket: str, key: str, data: bytes) -> tuple[str, str]:
    """Put `data` at `key`; returns (key, the version that was there before)."""
    before = s3.client().head_object(Bucket=bucket, Key=key)["VersionId"]
    s3.client().put_object(Bucket=bucket, Key=key, Body=data)
    return key, before


def test_publish_layer_version_from_s3(lam: Any, s3: S3Server, bucket: str) -> None:
    data = make_zip({"python/shared.py": "VALUE = 1\n"})
    key, version = put(s3, bucket, data)
    layer = lam.publish_layer_version(
        LayerName=unique("layer"),
        Content={"S3Bucket": bucket, "S3Key": key, "S3ObjectVersion": version},
    )
    assert layer["Content"]["CodeSha256"] == sha256(data)
    assert layer["Content"]["CodeSize"] == len(data)


def test_missing_objects_get_aws_errors(lam: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as missing_key:
        create(lam, {"S3Bucket": bucket, "S3Key": "no/such.zip"})
    assert error_of(missing_key) == (
        "InvalidParameterValueException",
        "Error occurred while GetObject. S3 Error Code: NoSuchKey. "
        "S3 Error Message: The specified key does not exist.",
        400,
    )
    with pytest.raises(ClientError) as missing_bucket:
        lam.publish_layer_version(
            LayerName=unique("layer"), Content={"S3Bucket": unique("nobucket"), "S3Key": "k"}
        )
    code, message, status = error_of(missing_bucket)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith("Error occurred while GetObject. S3 Error Code: NoSuchBucket.")


def test_s3_objects_get_the_upload_checks(lam: Any, s3: S3Server, bucket: str) -> None:
    for data, expected in [
        (b"not a zip", "Could not unzip uploaded file."),
        (symlink_zip(), "outside the package root"),
        (bomb_zip(300), "Unzipped size must be smaller than 262144000 bytes"),
    ]:
        key, _ = put(s3, bucket, data)
        with pytest.raises(ClientError) as refused:
            create(lam, {"S3Bucket": bucket, "S3Key": key})
        code, message, _ = error_of(refused)
        assert code == "InvalidParameterValueException" and expected in message


def test_bad_locations_are_refused(lam: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as only_bucket:
        create(lam, {"S3Bucket": bucket})
    assert error_of(only_bucket)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as bad_name:
        create(lam, {"S3Bucket": "bad.", "S3Key": "k"})
    code, message, _ = error_of(bad_name)
    assert code == "ValidationException" and "'code.s3Bucket'" in message


def test_without_an_s3_endpoint_code_from_s3_is_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with LambdadServer(tmp_path_factory.mktemp("nos3") / "data") as plain:
        with pytest.raises(ClientError) as refused:
            create(boto3_client(plain.url), {"S3Bucket": "bucket", "S3Key": "k.zip"})
    code, message, status = error_of(refused)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "--aws-endpoint" in message
