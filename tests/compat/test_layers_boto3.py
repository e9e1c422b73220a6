"""The layer operations and a function's Layers through boto3, as AWS answers them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import code_and_message as error
from support.lambda_calls import unique
from support.server import ACCOUNT_ID, REGION, ROLE, LambdadServer
from support.zips import bomb_zip, handler_zip, make_zip, symlink_zip

pytestmark = pytest.mark.compat

CREATED_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")
LAYER_ZIP = make_zip({"python/shared.py": "VALUE = 'from the layer'\n"})


def layer_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}"


def sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def publish(client: Any, name: str, data: bytes = LAYER_ZIP, **params: Any) -> dict[str, Any]:
    response: dict[str, Any] = client.publish_layer_version(
        LayerName=name, Content={"ZipFile": data}, **params
    )
    return response


def create_function(
    client: Any, name: str, code: bytes | None = None, **params: Any
) -> dict[str, Any]:
    response: dict[str, Any] = client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": code or handler_zip(name)},
        **params,
    )
    return response


# -- PublishLayerVersion / GetLayerVersion ------------------------------------------


def test_publish_answers_like_aws(lambda_client: Any) -> None:
    name = unique("layer")
    published = publish(
        lambda_client,
        name,
        Description="shared code",
        CompatibleRuntimes=["python3.12", "python3.13"],
        CompatibleArchitectures=["x86_64", "arm64"],
        LicenseInfo="MIT",
    )

    assert published["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert published["LayerArn"] == layer_arn(name)
    assert published["LayerVersionArn"] == f"{layer_arn(name)}:1"
    assert published["Version"] == 1
    assert published["Description"] == "shared code"
    assert published["LicenseInfo"] == "MIT"
    assert published["CompatibleRuntimes"] == ["python3.12", "python3.13"]
    assert published["CompatibleArchitectures"] == ["x86_64", "arm64"]
    assert CREATED_DATE.fullmatch(published["CreatedDate"])
    assert published["Content"]["CodeSha256"] == sha256(LAYER_ZIP)
    assert published["Content"]["CodeSize"] == len(LAYER_ZIP)
    assert httpx.get(published["Content"]["Location"]).content == LAYER_ZIP

    second = publish(lambda_client, name)
    assert second["Version"] == 2
    assert second["Description"] == ""
    assert "CompatibleRuntimes" not in second and "LicenseInfo" not in second


def test_get_layer_version_by_name_by_arn_and_by_version_arn(lambda_client: Any) -> None:
    name = unique("layer")
    published = publish(lambda_client, name, CompatibleRuntimes=["python3.12"])
    by_name = lambda_client.get_layer_version(LayerName=name, VersionNumber=1)
    by_arn = lambda_client.get_layer_version(LayerName=layer_arn(name), VersionNumber=1)
    by_version_arn = lambda_client.get_layer_version_by_arn(Arn=published["LayerVersionArn"])
    for got in (by_name, by_arn, by_version_arn):
        assert got["LayerVersionArn"] == published["LayerVersionArn"]
        assert got["Content"]["CodeSha256"] == published["Content"]["CodeSha256"]
        assert got["CompatibleRuntimes"] == ["python3.12"]
        assert got["CreatedDate"] == published["CreatedDate"]


def test_missing_layer_versions_are_not_found(lambda_client: Any) -> None:
    name = unique("layer")
    publish(lambda_client, name)
    calls: list[Callable[[], Any]] = [
        lambda: lambda_client.get_layer_version(LayerName=name, VersionNumber=2),
        lambda: lambda_client.get_layer_version(LayerName=unique("layer"), VersionNumber=1),
        lambda: lambda_client.get_layer_version_by_arn(Arn=f"{layer_arn(name)}:9"),
        lambda: lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=3),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == (
            "ResourceNotFoundException",
            "The resource you requested does not exist.",
        )


def test_publish_refuses_what_aws_refuses(lambda_client: Any, raw_client: Any) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"LayerName": "bad name"}, "ValidationException", "at 'layerName'"),
        ({"LayerName": "x" * 141}, "ValidationException", "regular expression pattern"),
        (
            {"LayerName": unique("layer"), "CompatibleRuntimes": ["cobol"]},
            "ValidationException",
            "at 'compatibleRuntimes'",
        ),
        (
            {"LayerName": unique("layer"), "CompatibleArchitectures": ["sparc"]},
            "ValidationException",
            "at 'compatibleArchitectures'",
        ),
        (
            {"LayerName": unique("layer"), "Description": "d" * 257},
            "ValidationException",
            "at 'description'",
        ),
        (
            {"LayerName": unique("layer"), "LicenseInfo": "l" * 513},
            "ValidationException",
            "at 'licenseInfo'",
        ),
    ]
    for params, code, fragment in cases:
        with pytest.raises(ClientError) as exc:
            raw_client.publish_layer_version(Content={"ZipFile": LAYER_ZIP}, **params)
        assert error(exc)[0] == code, params
        assert fragment in error(exc)[1], params
    for content in ({}, {"ZipFile": b""}):
        with pytest.raises(ClientError) as exc:
            raw_client.publish_layer_version(LayerName=unique("layer"), Content=content)
        assert error(exc) == (
            "InvalidParameterValueException",
            "Uploaded file must be a non-empty zip",
        )
    with pytest.raises(ClientError) as exc:
        raw_client.publish_layer_version(
            LayerName=unique("layer"), Content={"ZipFile": b"not a zip"}
        )
    assert error(exc)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        raw_client.publish_layer_version(LayerName=unique("layer"), Content={"ZipFile": bomb_zip()})
    assert error(exc) == (
        "InvalidParameterValueException",
        "Unzipped size must be smaller than 262144000 bytes",
    )
    with pytest.raises(ClientError) as exc:
        raw_client.publish_layer_version(
            LayerName=unique("layer"), Content={"ZipFile": symlink_zip()}
        )
    assert error(exc)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        lambda_client.publish_layer_version(
            LayerName=unique("layer"), Content={"S3Bucket": "bucket", "S3Key": "layer.zip"}
        )
    assert error(exc)[0] == "InvalidParameterValueException"


# -- ListLayers / ListLayerVersions ---------------------------------------------------


def test_sixty_layer_versions_page_newest_first(lambda_client: Any) -> None:
    name = unique("layer")
    for number in range(60):
        publish(lambda_client, name, Description=str(number + 1))
    seen: list[int] = []
    pages = lambda_client.get_paginator("list_layer_versions").paginate(
        LayerName=name, PaginationConfig={"PageSize": 25}
    )
    sizes = []
    for page in pages:
        sizes.append(len(page["LayerVersions"]))
        seen += [v["Version"] for v in page["LayerVersions"]]
    assert sizes == [25, 25, 10]
    assert seen == list(range(60, 0, -1))
    default = lambda_client.list_layer_versions(LayerName=name)
    assert len(default["LayerVersions"]) == 50 and "NextMarker" in default
    item = default["LayerVersions"][0]
    assert item["LayerVersionArn"] == f"{layer_arn(name)}:60"
    assert item["Description"] == "60"
    assert CREATED_DATE.fullmatch(item["CreatedDate"])


def test_list_filters_by_runtime_and_architecture(lambda_client: Any) -> None:
    name = unique("layer")
    publish(lambda_client, name, CompatibleRuntimes=["python3.12"])
    publish(
        lambda_client,
        name,
        CompatibleRuntimes=["nodejs20.x"],
        CompatibleArchitectures=["arm64"],
    )
    publish(lambda_client, name, CompatibleRuntimes=["nodejs20.x", "python3.12"])

    def versions(**filters: Any) -> list[int]:
        found = lambda_client.list_layer_versions(LayerName=name, **filters)
        return [v["Version"] for v in found["LayerVersions"]]

    assert versions() == [3, 2, 1]
    assert versions(CompatibleRuntime="python3.12") == [3, 1]
    assert versions(CompatibleRuntime="nodejs20.x") == [3, 2]
    assert versions(CompatibleArchitecture="arm64") == [2]
    assert versions(CompatibleRuntime="python3.12", CompatibleArchitecture="arm64") == []
    assert lambda_client.list_layer_versions(LayerName=unique("layer"))["LayerVersions"] == []

    def latest(**filters: Any) -> int | None:
        for page in lambda_client.get_paginator("list_layers").paginate(**filters):
            for layer in page["Layers"]:
                if layer["LayerName"] == name:
                    assert layer["LayerArn"] == layer_arn(name)
                    version: int = layer["LatestMatchingVersion"]["Version"]
                    return version
        return None

    assert latest() == 3
    assert latest(CompatibleArchitecture="arm64") == 2
    assert latest(CompatibleRuntime="java21") is None


def test_list_layers_pages_in_name_order(lambda_client: Any) -> None:
    prefix = unique("paged")
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        publish(lambda_client, name, CompatibleRuntimes=["provided.al2023"])
    listed: list[str] = []
    pages = lambda_client.get_paginator("list_layers").paginate(
        CompatibleRuntime="provided.al2023", PaginationConfig={"PageSize": 2}
    )
    for page in pages:
        assert len(page["Layers"]) <= 2
        listed += [layer["LayerName"] for layer in page["Layers"]]
    assert [n for n in listed if n.startswith(prefix)] == names


def test_list_refuses_bad_filters(raw_client: Any) -> None:
    for params, member in (
        ({"CompatibleRuntime": "cobol"}, "compatibleRuntime"),
        ({"CompatibleArchitecture": "sparc"}, "compatibleArchitecture"),
        ({"MaxItems": 51}, "maxItems"),
        ({"MaxItems": 0}, "maxItems"),
    ):
        with pytest.raises(ClientError) as exc:
            raw_client.list_layers(**params)
        assert error(exc)[0] == "ValidationException"
        assert f"at '{member}'" in error(exc)[1]


# -- DeleteLayerVersion -----------------------------------------------------------------


def test_delete_is_idempotent_and_numbers_are_not_reused(lambda_client: Any) -> None:
    name = unique("layer")
    publish(lambda_client, name)
    publish(lambda_client, name)
    lambda_client.delete_layer_version(LayerName=name, VersionNumber=2)
    lambda_client.delete_layer_version(LayerName=name, VersionNumber=2)
    lambda_client.delete_layer_version(LayerName=unique("layer"), VersionNumber=7)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_layer_version(LayerName=name, VersionNumber=2)
    assert error(exc)[0] == "ResourceNotFoundException"
    assert [v["Version"] for v in lambda_client.list_layer_versions(LayerName=name)[
        "LayerVersions"
    ]] == [1]  # fmt: skip
    assert publish(lambda_client, name)["Version"] == 3


# -- permissions -------------------------------------------------------------------------


def test_layer_version_permissions(lambda_client: Any) -> None:
    name = unique("layer")
    publish(lambda_client, name)
    resource = f"{layer_arn(name)}:1"
    with pytest.raises(ClientError) as exc:
        lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert error(exc) == (
        "ResourceNotFoundException",
        "No policy is associated with the given resource.",
    )

    added = lambda_client.add_layer_version_permission(
        LayerName=name,
        VersionNumber=1,
        StatementId="xaccount",
        Action="lambda:GetLayerVersion",
        Principal="123456789012",
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "xaccount",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "lambda:GetLayerVersion",
        "Resource": resource,
    }
    org = lambda_client.add_layer_version_permission(
        LayerName=name,
        VersionNumber=1,
        StatementId="org",
        Action="lambda:GetLayerVersion",
        Principal="*",
        OrganizationId="o-abcdefghij",
        RevisionId=added["RevisionId"],
    )
    assert json.loads(org["Statement"])["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}
    }
    policy = lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert policy["RevisionId"] == org["RevisionId"]
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17" and document["Id"] == "default"
    assert [s["Sid"] for s in document["Statement"]] == ["xaccount", "org"]

    with pytest.raises(ClientError) as exc:
        lambda_client.add_layer_version_permission(
            LayerName=name,
            VersionNumber=1,
            StatementId="xaccount",
            Action="lambda:GetLayerVersion",
            Principal="*",
        )
    assert error(exc) == (
        "ResourceConflictException",
        "The statement id (xaccount) provided already exists. Please provide a new statement "
        "id, or remove the existing statement.",
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.remove_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="org", RevisionId=added["RevisionId"]
        )
    assert error(exc)[0] == "PreconditionFailedException"
    with pytest.raises(ClientError) as exc:
        lambda_client.remove_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="nope"
        )
    assert error(exc) == (
        "ResourceNotFoundException",
        "Statement nope is not found in resource policy.",
    )
    lambda_client.remove_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="org", RevisionId=org["RevisionId"]
    )
    lambda_client.remove_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="xaccount"
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert error(exc)[0] == "ResourceNotFoundException"


def test_permission_validation(raw_client: Any) -> None:
    name = unique("layer")
    publish(raw_client, name)
    base = {
        "LayerName": name,
        "VersionNumber": 1,
        "StatementId": "s1",
        "Action": "lambda:GetLayerVersion",
        "Principal": "*",
    }
    for change, code, fragment in (
        ({"Action": "lambda:InvokeFunction"}, "ValidationException", "at 'action'"),
        ({"Principal": "someone"}, "ValidationException", "at 'principal'"),
        ({"StatementId": "no spaces"}, "ValidationException", "at 'statementId'"),
        ({"OrganizationId": "org"}, "ValidationException", "at 'organizationId'"),
        (
            {"OrganizationId": "o-abcdefghij", "Principal": "123456789012"},
            "InvalidParameterValueException",
            "OrganizationId",
        ),
        ({"VersionNumber": 5}, "ResourceNotFoundException", "does not exist"),
    ):
        with pytest.raises(ClientError) as exc:
            raw_client.add_layer_version_permission(**{**base, **change})
        assert error(exc)[0] == code, change
        assert fragment in error(exc)[1], change


# -- a function's Layers -------------------------------------------------------------------


def test_function_layers_listed_with_arn_and_code_size(lambda_client: Any) -> None:
    first, second = unique("layer"), unique("layer")
    one = publish(lambda_client, first)
    other_zip = make_zip({"python/other.py": "X = 1\n" * 50})
    two = publish(lambda_client, second, other_zip)
    name = unique("fn")
    created = create_function(
        lambda_client, name, Layers=[one["LayerVersionArn"], two["LayerVersionArn"]]
    )
    expected = [
        {"Arn": one["LayerVersionArn"], "CodeSize": len(LAYER_ZIP)},
        {"Arn": two["LayerVersionArn"], "CodeSize": len(other_zip)},
    ]
    assert created["Layers"] == expected
    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 400}
    )
    assert lambda_client.get_function(FunctionName=name)["Configuration"]["Layers"] == expected
    published = lambda_client.publish_version(FunctionName=name)
    assert published["Layers"] == expected

    updated = lambda_client.update_function_configuration(
        FunctionName=name, Layers=[two["LayerVersionArn"]]
    )
    assert updated["Layers"] == expected[1:]
    lambda_client.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 400}
    )
    assert (
        lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")["Layers"]
        == expected
    )
    # A deleted layer version keeps working for the functions that use it.
    lambda_client.delete_layer_version(LayerName=first, VersionNumber=1)
    assert (
        lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")["Layers"]
        == expected
    )
    cleared = lambda_client.update_function_configuration(FunctionName=name, Layers=[])
    assert "Layers" not in cleared


def test_function_layers_refused_as_aws_refuses_them(lambda_client: Any, raw_client: Any) -> None:
    name = unique("layer")
    publish(lambda_client, name)
    publish(lambda_client, name)
    missing = f"{layer_arn(name)}:9"
    foreign = f"arn:aws:lambda:{REGION}:123456789012:layer:{name}:1"
    for layers, code, message in (
        ([missing], "InvalidParameterValueException", f"Layer version {missing} does not exist."),
        ([foreign], "InvalidParameterValueException", f"Layer version {foreign} does not exist."),
        (
            [f"{layer_arn(name)}:1", f"{layer_arn(name)}:2"],
            "InvalidParameterValueException",
            "Two different versions of the same layer are not allowed to be referenced in the "
            f"same function. {layer_arn(name)}:1 and {layer_arn(name)}:2 are versions of the "
            "same layer.",
        ),
        (
            [f"{layer_arn(unique('layer'))}:1" for _ in range(6)],
            "InvalidParameterValueException",
            "Cannot reference more than 5 layers.",
        ),
    ):
        with pytest.raises(ClientError) as exc:
            create_function(raw_client, unique("fn"), Layers=layers)
        assert error(exc) == (code, message)
    with pytest.raises(ClientError) as exc:
        create_function(raw_client, unique("fn"), Layers=[layer_arn(name)])
    assert error(exc)[0] == "ValidationException"
    assert "at 'layers'" in error(exc)[1]


def test_code_plus_layers_past_250_mb_is_refused(lambda_client: Any) -> None:
    # Just under the limit alone; anything more makes the whole too big. No step
    # below unpacks it: a refused change never reaches activation.
    big = bomb_zip(249)  # 261,095,424 bytes unzipped
    small = publish(lambda_client, unique("layer"), make_zip({"pad.bin": bytes(2 * 1024 * 1024)}))
    big_layer = publish(lambda_client, unique("layer"), big)
    wait = {"Delay": 0.05, "MaxAttempts": 400}

    def refused(exc: pytest.ExceptionInfo[ClientError]) -> None:
        code, message = error(exc)
        assert code == "InvalidParameterValueException"
        assert message.startswith(
            "Function code combined with layers exceeds the maximum allowed size of "
            "262144000 bytes. The actual size is "
        )

    with pytest.raises(ClientError) as exc:
        create_function(lambda_client, unique("fn"), big, Layers=[small["LayerVersionArn"]])
    refused(exc)

    # Adding layers later, or growing the code later, is refused the same way.
    name = unique("fn")
    create_function(lambda_client, name, Layers=[small["LayerVersionArn"]])
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=wait)
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_configuration(
            FunctionName=name, Layers=[small["LayerVersionArn"], big_layer["LayerVersionArn"]]
        )
    refused(exc)
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_code(FunctionName=name, ZipFile=big)
    refused(exc)
    got = lambda_client.get_function_configuration(FunctionName=name)
    assert got["CodeSha256"] != sha256(big)
    assert got["Layers"] == [
        {"Arn": small["LayerVersionArn"], "CodeSize": small["Content"]["CodeSize"]}
    ]


def test_layers_accept_every_runtime_botocore_knows(lambda_client: Any) -> None:
    published = publish(
        lambda_client, unique("layer"), CompatibleRuntimes=["python3.15", "custom", "java17.al2023"]
    )
    assert published["CompatibleRuntimes"] == ["python3.15", "custom", "java17.al2023"]


def test_a_deleted_layer_version_lives_until_no_function_uses_it(
    lambda_client: Any, server: LambdadServer
) -> None:
    name = unique("layer")
    data = make_zip({"python/kept.py": f"KEY = {name!r}\n"})
    layer = publish(lambda_client, name, data)
    blob = server.data_dir / "blobs" / hashlib.sha256(data).hexdigest()[:2]
    blob = blob / hashlib.sha256(data).hexdigest()
    function = unique("fn")
    # Another partition's spelling of the same ARN names the same layer version.
    other_partition = layer["LayerVersionArn"].replace("arn:aws:", "arn:aws-cn:")
    create_function(lambda_client, function, Layers=[other_partition])
    lambda_client.delete_layer_version(LayerName=name, VersionNumber=1)
    assert blob.exists()
    with pytest.raises(ClientError) as exc:
        create_function(lambda_client, unique("fn"), Layers=[layer["LayerVersionArn"]])
    assert error(exc)[1] == f"Layer version {layer['LayerVersionArn']} does not exist."
    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=function, WaiterConfig={"Delay": 0.05, "MaxAttempts": 400}
    )
    lambda_client.delete_function(FunctionName=function)
    assert not blob.exists()


def test_account_settings_count_layer_code(lambda_client: Any) -> None:
    def total() -> int:
        usage: int = lambda_client.get_account_settings()["AccountUsage"]["TotalCodeSize"]
        return usage

    before = total()
    name = unique("layer")
    publish(lambda_client, name)
    assert total() == before + len(LAYER_ZIP)
    lambda_client.delete_layer_version(LayerName=name, VersionNumber=1)
    assert total() == before
