"""The function operations through boto3 against a live server, as AWS answers them."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import function_arn as arn
from support.lambda_calls import unique, wait_active, wait_updated
from support.server import ACCOUNT_ID, REGION, ROLE, LambdadServer, dir_size, http_auth
from support.zips import bomb_zip, handler_zip, make_zip, symlink_zip

pytestmark = pytest.mark.compat

LAST_MODIFIED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")
ZIP = handler_zip("base")


def create(client: Any, name: str, code: bytes = ZIP, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "Role": ROLE,
        "Code": {"ZipFile": code},
    }
    params.update(overrides)
    response: dict[str, Any] = client.create_function(**params)
    return response


def code_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def error_code(exc: BaseException) -> str:
    assert isinstance(exc, ClientError)
    code: str = exc.response["Error"]["Code"]
    return code


# -- create and get --------------------------------------------------------------


def test_create_function_answers_like_aws(lambda_client: Any) -> None:
    name = unique("fn")
    created = create(lambda_client, name, Description="hello")

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionName"] == name
    assert created["FunctionArn"] == arn(name)
    assert created["CodeSha256"] == code_sha256(ZIP)
    assert created["CodeSize"] == len(ZIP)
    assert LAST_MODIFIED.fullmatch(created["LastModified"])
    assert created["Version"] == "$LATEST"
    assert created["State"] == "Pending"
    assert created["StateReason"] == "The function is being created."
    assert created["StateReasonCode"] == "Creating"
    assert "LastUpdateStatus" not in created  # not before the first update, as on AWS
    assert "Environment" not in created  # never set
    assert created["PackageType"] == "Zip"
    assert created["Architectures"] == ["x86_64"]
    assert created["EphemeralStorage"] == {"Size": 512}
    assert created["LoggingConfig"]["LogGroup"] == f"/aws/lambda/{name}"
    assert (created["Runtime"], created["Handler"], created["Role"]) == (
        "python3.12",
        "app.handler",
        ROLE,
    )
    assert (created["MemorySize"], created["Timeout"], created["Description"]) == (128, 3, "hello")
    assert uuid.UUID(created["RevisionId"])

    wait_active(lambda_client, name)
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert config["State"] == "Active"
    assert config["LastUpdateStatus"] == "Successful"
    assert "StateReason" not in config
    # Every state transition is a new revision, as on AWS.
    assert config["RevisionId"] != created["RevisionId"]


def test_get_function_code_location_downloads_the_zip(lambda_client: Any) -> None:
    name = unique("fn")
    code = handler_zip(name)
    create(lambda_client, name, code)

    got = lambda_client.get_function(FunctionName=name)
    assert got["Code"]["RepositoryType"] == "S3"
    location = got["Code"]["Location"]
    downloaded = httpx.get(location)
    assert downloaded.status_code == 200
    assert downloaded.content == code

    tampered = re.sub(
        r"Signature=([0-9a-f])",
        lambda m: "Signature=" + "0123456789abcdef"[-1 - int(m[1], 16)],
        location,
    )
    assert tampered != location
    refused = httpx.get(tampered)
    assert refused.status_code == 403
    assert refused.headers["x-amzn-ErrorType"] == "AccessDeniedException"


@pytest.mark.parametrize(
    "form",
    ["name", "partial-arn", "full-arn", "name:$LATEST", "full-arn:$LATEST", "qualifier"],
)
def test_get_function_by_every_name_form(lambda_client: Any, form: str) -> None:
    name = unique("fn")
    create(lambda_client, name)
    kwargs: dict[str, str] = {
        "name": {"FunctionName": name},
        "partial-arn": {"FunctionName": f"{ACCOUNT_ID}:function:{name}"},
        "full-arn": {"FunctionName": arn(name)},
        "name:$LATEST": {"FunctionName": f"{name}:$LATEST"},
        "full-arn:$LATEST": {"FunctionName": f"{arn(name)}:$LATEST"},
        "qualifier": {"FunctionName": name, "Qualifier": "$LATEST"},
    }[form]
    got = lambda_client.get_function(**kwargs)
    assert got["Configuration"]["FunctionName"] == name
    assert got["Configuration"]["Version"] == "$LATEST"
    config = lambda_client.get_function_configuration(**kwargs)
    # AWS writes the ARN as asked: qualified when a qualifier was given.
    expected = arn(name) if "LATEST" not in form and form != "qualifier" else f"{arn(name)}:$LATEST"
    assert config["FunctionArn"] == expected


def test_get_function_of_another_account_or_region_is_not_found(lambda_client: Any) -> None:
    name = unique("fn")
    create(lambda_client, name)
    for other in (
        f"111111111111:function:{name}",
        f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:{name}",
    ):
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.get_function(FunctionName=other)


def test_get_function_with_mismatched_qualifiers_is_refused(lambda_client: Any) -> None:
    name = unique("fn")
    create(lambda_client, name)
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.get_function(FunctionName=f"{name}:$LATEST", Qualifier="1")


# -- list ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sixty_functions(lambda_client: Any) -> list[str]:
    prefix = unique("page")
    names = [f"{prefix}-{i:02d}" for i in range(60)]
    for name in reversed(names):  # created out of order; listed in order
        create(lambda_client, name)
    return names


def test_list_functions_paginates_with_markers(
    lambda_client: Any, sixty_functions: list[str]
) -> None:
    seen: list[str] = []
    marker: str | None = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"MaxItems": 7, **({"Marker": marker} if marker else {})}
        page = lambda_client.list_functions(**kwargs)
        pages += 1
        assert len(page["Functions"]) <= 7
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
        assert len(page["Functions"]) == 7
        assert pages < 1000
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    ours = [n for n in seen if n in set(sixty_functions)]
    assert ours == sixty_functions
    assert pages >= 9


def test_list_functions_with_the_boto3_paginator(
    lambda_client: Any, sixty_functions: list[str]
) -> None:
    paginator = lambda_client.get_paginator("list_functions")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 7}))
    seen = [f["FunctionName"] for page in pages for f in page["Functions"]]
    assert all(len(page["Functions"]) <= 7 for page in pages)
    assert seen == sorted(set(seen))
    assert set(sixty_functions) <= set(seen)
    assert all(f["Version"] == "$LATEST" for page in pages for f in page["Functions"])


def test_list_functions_with_all_versions(lambda_client: Any) -> None:
    name = unique("fn")
    create(lambda_client, name, Publish=True)
    wait_active(lambda_client, name)

    def versions(**kwargs: Any) -> list[str]:
        paginator = lambda_client.get_paginator("list_functions")
        return [
            f["Version"]
            for page in paginator.paginate(**kwargs)
            for f in page["Functions"]
            if f["FunctionName"] == name
        ]

    assert versions() == ["$LATEST"]
    assert versions(FunctionVersion="ALL") == ["$LATEST", "1"]
    published = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert published["Version"] == "1"
    assert published["FunctionArn"] == f"{arn(name)}:1"


def test_list_functions_refuses_bad_parameters(raw_client: Any) -> None:
    with pytest.raises(raw_client.exceptions.InvalidParameterValueException):
        raw_client.list_functions(FunctionVersion="SOME")
    with pytest.raises(ClientError) as info:
        raw_client.list_functions(MaxItems=0)
    assert error_code(info.value) in ("ValidationException", "InvalidParameterValueException")


# -- update code -----------------------------------------------------------------


def test_update_function_code(lambda_client: Any) -> None:
    name = unique("fn")
    created = create(lambda_client, name)
    wait_active(lambda_client, name)
    new_code = handler_zip("v2")

    updated = lambda_client.update_function_code(FunctionName=name, ZipFile=new_code)
    assert updated["CodeSha256"] == code_sha256(new_code)
    assert updated["CodeSha256"] != created["CodeSha256"]
    assert updated["CodeSize"] == len(new_code)
    assert updated["RevisionId"] != created["RevisionId"]
    assert updated["LastUpdateStatus"] == "InProgress"

    wait_updated(lambda_client, name)
    got = lambda_client.get_function(FunctionName=name)
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Configuration"]["State"] == "Active"
    assert got["Configuration"]["CodeSha256"] == code_sha256(new_code)
    assert httpx.get(got["Code"]["Location"]).content == new_code


def test_update_function_code_with_publish(lambda_client: Any) -> None:
    name = unique("fn")
    create(lambda_client, name)
    wait_active(lambda_client, name)
    new_code = handler_zip("published")

    lambda_client.update_function_code(FunctionName=name, ZipFile=new_code, Publish=True)
    wait_updated(lambda_client, name)
    version = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert version["Version"] == "1"
    assert version["CodeSha256"] == code_sha256(new_code)
    got = lambda_client.get_function(FunctionName=name, Qualifier="1")
    assert httpx.get(got["Code"]["Location"]).content == new_code


def test_update_function_code_dry_run_changes_nothing(lambda_client: Any) -> None:
    name = unique("fn")
    create(lambda_client, name)
    wait_active(lambda_client, name)
    created = lambda_client.get_function_configuration(FunctionName=name)
    new_code = handler_zip("dry")

    dry = lambda_client.update_function_code(FunctionName=name, ZipFile=new_code, DryRun=True)
    assert dry["CodeSha256"] == code_sha256(new_code)

    after = lambda_client.get_function(FunctionName=name)
    assert after["Configuration"]["CodeSha256"] == created["CodeSha256"]
    assert after["Configuration"]["RevisionId"] == created["RevisionId"]
    assert after["Configuration"]["LastModified"] == created["LastModified"]
    assert httpx.get(after["Code"]["Location"]).content == ZIP


def test_update_with_a_stale_revision_id_is_refused(lambda_client: Any) -> None:
    name = unique("fn")
    created = create(lambda_client, name)
    wait_active(lambda_client, name)
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        # Activation made a new revision: the one CreateFunction answered is stale.
        lambda_client.update_function_code(
            FunctionName=name, ZipFile=handler_zip("rev"), RevisionId=created["RevisionId"]
        )
    created = lambda_client.get_function_configuration(FunctionName=name)
    lambda_client.update_function_code(
        FunctionName=name, ZipFile=handler_zip("rev"), RevisionId=created["RevisionId"]
    )
    wait_updated(lambda_client, name)

    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.update_function_code(
            FunctionName=name, ZipFile=handler_zip("stale"), RevisionId=created["RevisionId"]
        )
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.update_function_configuration(
            FunctionName=name, MemorySize=256, RevisionId=created["RevisionId"]
        )
    current = lambda_client.get_function_configuration(FunctionName=name)
    assert current["CodeSha256"] == code_sha256(handler_zip("rev"))
    assert current["MemorySize"] == 128


def test_update_code_of_a_missing_function_is_not_found(lambda_client: Any) -> None:
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.update_function_code(FunctionName=unique("missing"), ZipFile=ZIP)


# -- update configuration --------------------------------------------------------


def test_update_function_configuration(lambda_client: Any) -> None:
    name = unique("fn")
    created = create(lambda_client, name)
    wait_active(lambda_client, name)

    updated = lambda_client.update_function_configuration(
        FunctionName=name,
        Handler="other.main",
        Runtime="python3.11",
        MemorySize=1024,
        Timeout=30,
        Environment={"Variables": {"STAGE": "test", "COLOR": "blue"}},
        Description="updated",
        EphemeralStorage={"Size": 2048},
    )
    assert updated["RevisionId"] != created["RevisionId"]
    assert updated["CodeSha256"] == created["CodeSha256"]
    wait_updated(lambda_client, name)

    config = lambda_client.get_function_configuration(FunctionName=name)
    assert config["Handler"] == "other.main"
    assert config["Runtime"] == "python3.11"
    assert config["MemorySize"] == 1024
    assert config["Timeout"] == 30
    assert config["Environment"] == {"Variables": {"STAGE": "test", "COLOR": "blue"}}
    assert config["Description"] == "updated"
    assert config["EphemeralStorage"] == {"Size": 2048}
    assert config["LastUpdateStatus"] == "Successful"
    assert config["RevisionId"] != updated["RevisionId"]  # InProgress -> Successful

    # Only what is sent changes.
    lambda_client.update_function_configuration(FunctionName=name, Timeout=60)
    wait_updated(lambda_client, name)
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert (config["Timeout"], config["MemorySize"], config["Handler"]) == (60, 1024, "other.main")


def test_update_configuration_refuses_what_create_refuses(
    lambda_client: Any, raw_client: Any
) -> None:
    name = unique("fn")
    create(lambda_client, name)
    wait_active(lambda_client, name)
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_configuration(
            FunctionName=name, Layers=[f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:nope:1"]
        )
    with pytest.raises(ClientError) as info:
        raw_client.update_function_configuration(FunctionName=name, MemorySize=10241)
    assert error_code(info.value) == "ValidationException"
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_configuration(FunctionName=name, Runtime="python2.7")
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"AWS_REGION": "x"}}
        )
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert (config["MemorySize"], config["Runtime"], config.get("Layers")) == (
        128,
        "python3.12",
        None,
    )


# -- delete ----------------------------------------------------------------------


def test_delete_function(lambda_client: Any) -> None:
    name = unique("fn")
    create(lambda_client, name, Publish=True)
    response = lambda_client.delete_function(FunctionName=name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=name)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=name, Qualifier="1")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.delete_function(FunctionName=name)
    # The name is free again.
    create(lambda_client, name)


def test_delete_a_version_keeps_the_function(lambda_client: Any) -> None:
    name = unique("fn")
    create(lambda_client, name, Publish=True)
    wait_active(lambda_client, name)

    lambda_client.delete_function(FunctionName=name, Qualifier="1")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=name, Qualifier="1")
    assert lambda_client.get_function(FunctionName=name)["Configuration"]["Version"] == "$LATEST"
    # A version that is gone is deleted already: 204, as on AWS.
    again = lambda_client.delete_function(FunctionName=name, Qualifier="1")
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


def test_publish_version_and_list_versions(lambda_client: Any) -> None:
    name = unique("fn")
    created = create(lambda_client, name)
    wait_active(lambda_client, name)

    first = lambda_client.publish_version(FunctionName=name, Description="first")
    assert (first["Version"], first["Description"]) == ("1", "first")
    assert first["FunctionArn"] == f"{arn(name)}:1"
    assert first["CodeSha256"] == created["CodeSha256"]
    assert first["RevisionId"] != created["RevisionId"]
    # Nothing changed since version 1: publishing again returns it.
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "1"

    lambda_client.update_function_configuration(FunctionName=name, Timeout=9)
    wait_updated(lambda_client, name)
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.publish_version(FunctionName=name, CodeSha256="bm90IHRoZSBoYXNo")
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.publish_version(FunctionName=name, RevisionId="stale")
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"

    listed = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [(v["Version"], v["Timeout"]) for v in listed] == [("$LATEST", 9), ("1", 3), ("2", 9)]
    paged = lambda_client.get_paginator("list_versions_by_function")
    pages = list(paged.paginate(FunctionName=name, PaginationConfig={"PageSize": 2}))
    assert [v["Version"] for p in pages for v in p["Versions"]] == ["$LATEST", "1", "2"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.publish_version(FunctionName=unique("missing"))


# -- tags and account ------------------------------------------------------------


def test_tags(lambda_client: Any) -> None:
    name = unique("fn")
    create(lambda_client, name, Tags={"team": "core", "env": "dev"})
    resource = arn(name)

    assert lambda_client.list_tags(Resource=resource)["Tags"] == {"team": "core", "env": "dev"}
    lambda_client.tag_resource(Resource=resource, Tags={"env": "prod", "owner": "me"})
    assert lambda_client.list_tags(Resource=resource)["Tags"] == {
        "team": "core",
        "env": "prod",
        "owner": "me",
    }
    lambda_client.untag_resource(Resource=resource, TagKeys=["team", "absent"])
    assert lambda_client.list_tags(Resource=resource)["Tags"] == {"env": "prod", "owner": "me"}
    assert lambda_client.get_function(FunctionName=name)["Tags"] == {"env": "prod", "owner": "me"}

    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.list_tags(Resource=arn(unique("missing")))
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.tag_resource(Resource=resource, Tags={"aws:reserved": "x"})


def test_get_account_settings(lambda_client: Any) -> None:
    before = lambda_client.get_account_settings()
    codes = [handler_zip("account-a"), make_zip({"a.py": "x = 1\n", "b.py": "y = 2\n"})]
    for code in codes:
        create(lambda_client, unique("acct"), code)
    after = lambda_client.get_account_settings()

    usage_before, usage_after = before["AccountUsage"], after["AccountUsage"]
    assert usage_after["FunctionCount"] == usage_before["FunctionCount"] + 2
    assert usage_after["TotalCodeSize"] == usage_before["TotalCodeSize"] + sum(map(len, codes))
    limit = after["AccountLimit"]
    assert limit["ConcurrentExecutions"] == 1000
    assert limit["UnreservedConcurrentExecutions"] == 1000
    assert limit["CodeSizeUnzipped"] == 262_144_000
    assert limit["CodeSizeZipped"] == 52_428_800


# -- validation errors -----------------------------------------------------------

EVIL_ZIPS = {
    "zip-traversal": make_zip({"app.py": "x = 1\n", "../evil": "boom"}),
    "zip-absolute": make_zip({"app.py": "x = 1\n", "/etc/x": "boom"}),
    "zip-symlink-out": symlink_zip(),
    "zip-corrupt": b"PK\x03\x04 this is not really a zip file",
    "zip-empty": b"",
}

CREATE_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    # A bad plain name is an InvalidParameterValueException on CreateFunction only.
    ("bad-name-pattern", {"FunctionName": "bad name!"}, "InvalidParameterValueException"),
    ("name-too-long", {"FunctionName": "a" * 65}, "InvalidParameterValueException"),
    ("bad-arn-pattern", {"FunctionName": "000000000000:function:a b"}, "ValidationException"),
    ("memory-127", {"MemorySize": 127}, "ValidationException"),
    ("memory-10241", {"MemorySize": 10241}, "ValidationException"),
    ("timeout-0", {"Timeout": 0}, "ValidationException"),
    ("timeout-901", {"Timeout": 901}, "ValidationException"),
    ("ephemeral-511", {"EphemeralStorage": {"Size": 511}}, "ValidationException"),
    ("ephemeral-10241", {"EphemeralStorage": {"Size": 10241}}, "ValidationException"),
    (
        "environment-over-4kb",
        {"Environment": {"Variables": {f"KEY{i}": "v" * 100 for i in range(40)}}},
        "InvalidParameterValueException",
    ),
    (
        "reserved-env-key",
        {"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}},
        "InvalidParameterValueException",
    ),
    # Runtime is no model constraint on AWS (it may be an ARN): its own error class.
    ("unknown-runtime", {"Runtime": "python2.1"}, "InvalidParameterValueException"),
    ("deprecated-runtime", {"Runtime": "python2.7"}, "InvalidParameterValueException"),
    ("missing-handler", {"Handler": None}, "InvalidParameterValueException"),
    ("bad-role", {"Role": "not-a-role"}, "ValidationException"),
    (
        "nonexistent-layer",
        {"Layers": [f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:nope:1"]},
        "InvalidParameterValueException",
    ),
    *[
        (key, {"Code": {"ZipFile": data}}, "InvalidParameterValueException")
        for key, data in EVIL_ZIPS.items()
    ],
    (
        "code-from-s3",
        {"Code": {"S3Bucket": "bucket", "S3Key": "code.zip"}},
        "InvalidParameterValueException",
    ),
    (
        "code-from-image",
        {"Code": {"ImageUri": "example.com/image:latest"}, "PackageType": "Image"},
        "InvalidParameterValueException",
    ),
    ("no-code", {"Code": {}}, "InvalidParameterValueException"),
]


def test_evil_zips_are_what_they_claim() -> None:
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(EVIL_ZIPS["zip-absolute"])).namelist()
    assert "/etc/x" in names
    names = zipfile.ZipFile(io.BytesIO(EVIL_ZIPS["zip-traversal"])).namelist()
    assert "../evil" in names


@pytest.mark.parametrize(
    ("overrides", "code"), [pytest.param(o, c, id=i) for i, o, c in CREATE_ERRORS]
)
def test_create_function_refuses(raw_client: Any, overrides: dict[str, Any], code: str) -> None:
    name = unique("invalid")
    params: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "Role": ROLE,
        "Code": {"ZipFile": ZIP},
    }
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    expected: type[BaseException] = (
        ClientError if code == "ValidationException" else getattr(raw_client.exceptions, code)
    )
    with pytest.raises(expected) as info:
        raw_client.create_function(**params)
    assert error_code(info.value) == code
    assert isinstance(info.value, ClientError)
    assert info.value.response["Error"]["Message"]
    # Nothing was created.
    with pytest.raises(ClientError):
        raw_client.get_function(FunctionName=params["FunctionName"])


def test_zip_bomb_is_refused_without_filling_the_disk(
    lambda_client: Any, server: LambdadServer
) -> None:
    bomb = bomb_zip()
    assert len(bomb) < 5 * 1024 * 1024
    before = dir_size(server.data_dir)
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as info:
        create(lambda_client, unique("bomb"), bomb)
    assert "Unzipped size must be smaller than 262144000 bytes" in str(info.value)
    assert dir_size(server.data_dir) - before < 50 * 1024 * 1024

    name = unique("bomb")
    create(lambda_client, name)
    wait_active(lambda_client, name)  # else a Pending function refuses the update first
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_code(FunctionName=name, ZipFile=bomb)
    assert dir_size(server.data_dir) - before < 50 * 1024 * 1024


def test_duplicate_name_is_a_conflict(lambda_client: Any) -> None:
    name = unique("fn")
    create(lambda_client, name)
    with pytest.raises(lambda_client.exceptions.ResourceConflictException):
        create(lambda_client, name, handler_zip("other"))


def test_unknown_function_is_not_found(lambda_client: Any) -> None:
    name = unique("missing")
    for call in (
        lambda_client.get_function,
        lambda_client.get_function_configuration,
        lambda_client.delete_function,
    ):
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
            call(FunctionName=name)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.update_function_configuration(FunctionName=name, Timeout=5)


def test_error_shape_on_the_wire(server: LambdadServer) -> None:
    name = unique("missing")
    signed = http_auth(server.url)
    response = httpx.get(f"{server.url}/2015-03-31/functions/{name}", auth=signed)
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-amzn-RequestId"]
    message = f"Function not found: {arn(name)}"
    assert response.json() == {"Type": "User", "message": message, "Message": message}

    invalid = httpx.post(
        f"{server.url}/2015-03-31/functions",
        json={"FunctionName": unique("fn"), "Role": ROLE, "Runtime": "python3.12", "Code": {}},
        auth=signed,
    )
    assert invalid.status_code == 400
    assert invalid.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
    assert set(invalid.json()) == {"Type", "message"}

    unknown = httpx.get(f"{server.url}/2015-03-31/no-such-operation", auth=signed)
    assert unknown.status_code == 404
    assert unknown.headers["x-amzn-ErrorType"] == "UnknownOperationException"

    garbage = httpx.post(
        f"{server.url}/2015-03-31/functions",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
        auth=signed,
    )
    assert garbage.status_code == 400
    assert garbage.headers["x-amzn-ErrorType"] in (
        "InvalidRequestContentException",
        "ValidationException",
    )


def test_concurrent_updates_without_revision_id_conflict_cleanly(lambda_client: Any) -> None:
    """Racing updates either win or get AWS's ResourceConflictException, never 412 or 500."""
    from concurrent.futures import ThreadPoolExecutor

    name = unique("race")
    create(lambda_client, name)
    wait_active(lambda_client, name)

    def update(i: int) -> str:
        try:
            lambda_client.update_function_code(
                FunctionName=name, ZipFile=handler_zip(f"race-{i}"), Publish=True
            )
        except ClientError as exc:
            return error_code(exc)
        return "ok"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(update, range(6)))
    assert "ok" in outcomes
    assert set(outcomes) <= {"ok", "ResourceConflictException"}
