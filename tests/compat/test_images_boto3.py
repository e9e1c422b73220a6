"""Container image functions through boto3: images built by the tests from scratch
(Debian's static busybox and a shell bootstrap), imported with `lambdad images import`,
created with ImageUri and invoked; GetFunction's fields, ImageConfig overrides, image ENV,
new code retiring old environments, versions pinned to their digest, AWS's refusals."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.image_roots import aws_shaped, busybox_rootfs, layer_of
from support.images import build_image
from support.marks import needs_sandbox
from support.server import LambdadServer, aws_env, lambdad_command

pytestmark = [pytest.mark.compat, *needs_sandbox]

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


@dataclass(frozen=True)
class Images:
    scratch: str  # ENTRYPOINT the bootstrap, CMD the handler
    scratch_v2: str  # the same repository, another tag and ENV
    aws: str  # /lambda-entrypoint.sh with the handler as CMD
    arm: str  # built for arm64
    repository: str


def import_image(server: LambdadServer, archive: Path, name: str) -> None:
    command = [*lambdad_command("images", "import", str(archive), "--name", name)]
    command += ["--endpoint", server.url]
    run = subprocess.run(
        command, capture_output=True, text=True, env=aws_env(endpoint=server.url), timeout=120
    )
    assert run.returncode == 0, run.stderr


def build(
    server: LambdadServer,
    tmp: Path,
    name: str,
    root: Path,
    *,
    entrypoint: list[str],
    env: list[str],
    architecture: str = "amd64",
) -> str:
    image = build_image(
        [layer_of(root)],
        entrypoint=entrypoint,
        cmd=["function.handler"],
        env=env,
        working_dir="/var/task",
        architecture=architecture,
    )
    archive = tmp / f"{uuid.uuid4().hex}.tar"
    archive.write_bytes(image.oci_layout())
    import_image(server, archive, name)
    return name


@pytest.fixture(scope="module")
def images(server: LambdadServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    tmp = tmp_path_factory.mktemp("images")
    repository = f"scratch-{uuid.uuid4().hex[:8]}"
    plain = busybox_rootfs(tmp / "plain", handlers=("function", "other"))
    shaped = aws_shaped(tmp / "shaped")
    base_env = ["PATH=/bin", "FN_VAR=from-image"]
    bootstrap = ["/var/runtime/bootstrap"]
    yield Images(
        scratch=build(server, tmp, f"{repository}:v1", plain, entrypoint=bootstrap,
                      env=[*base_env, "IMAGE_VAR=one"]),
        scratch_v2=build(server, tmp, f"{repository}:v2", plain, entrypoint=bootstrap,
                         env=[*base_env, "IMAGE_VAR=two"]),
        aws=build(server, tmp, f"{repository}-aws:v1", shaped,
                  entrypoint=["/lambda-entrypoint.sh"], env=base_env),
        arm=build(server, tmp, f"{repository}-arm:v1", plain, entrypoint=bootstrap,
                  env=base_env, architecture="arm64"),
        repository=repository,
    )  # fmt: skip


def create(client: Any, image_uri: str, **extra: Any) -> str:
    name = f"img-{uuid.uuid4().hex[:10]}"
    client.create_function(
        FunctionName=name, PackageType="Image", Code={"ImageUri": image_uri}, Role=ROLE, **extra
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def invoke(client: Any, name: str, qualifier: str | None = None, **event: Any) -> Any:
    params: dict[str, Any] = {"FunctionName": name, "Payload": json.dumps(event)}
    if qualifier:
        params["Qualifier"] = qualifier
    response = client.invoke(**params)
    body = response["Payload"].read()
    assert "FunctionError" not in response, body
    return json.loads(body)


def test_scratch_image_runs_with_its_settings(lambda_client: Any, images: Images) -> None:
    name = create(lambda_client, images.scratch, Environment={"Variables": {"FN_VAR": "fn"}})
    out = invoke(lambda_client, name, n=1)
    assert out["event"] == {"n": 1}
    assert out["handler"] == "function.handler" and out["pwd"] == "/var/task"
    assert out["image_var"] == "one"  # the image's ENV
    assert out["fn_var"] == "fn"  # under the function's Environment
    assert out["path"] == "/bin"
    assert out["readonly"] == "yes" and out["tmp"] == "/tmp/written"
    assert "usr" not in out["root"].split()  # nothing of the host's

    got = lambda_client.get_function(FunctionName=name)
    code, config = got["Code"], got["Configuration"]
    assert code["RepositoryType"] == "ECR" and code["ImageUri"] == images.scratch
    resolved = code["ResolvedImageUri"]
    assert resolved.startswith(f"{images.repository}@sha256:")
    assert config["CodeSha256"] == resolved.rsplit(":", 1)[1]  # the digest's hex
    assert config["PackageType"] == "Image"
    assert "Runtime" not in config and "Handler" not in config
    assert "ImageConfigResponse" not in config
    pages = lambda_client.get_paginator("list_functions").paginate()
    listed = [f for page in pages for f in page["Functions"] if f["FunctionName"] == name]
    assert [f["PackageType"] for f in listed] == ["Image"]


def test_aws_shaped_image_gets_the_handler_from_cmd(lambda_client: Any, images: Images) -> None:
    out = invoke(lambda_client, create(lambda_client, images.aws))
    assert out["handler"] == "function.handler" and out["args"] == "function.handler"


def test_image_config_overrides(lambda_client: Any, images: Images) -> None:
    overrides = {
        "EntryPoint": ["/bin/sh", "/var/runtime/bootstrap"],
        "Command": ["other.handler"],
        "WorkingDirectory": "/tmp",
    }
    name = create(lambda_client, images.scratch, ImageConfig=overrides)
    out = invoke(lambda_client, name)
    assert out["handler"] == "other.handler" and out["pwd"] == "/tmp"
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert config["ImageConfigResponse"] == {"ImageConfig": overrides}

    lambda_client.update_function_configuration(
        FunctionName=name, ImageConfig={"Command": ["function.handler"]}
    )
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    out = invoke(lambda_client, name)  # a new environment: the old one is retired
    assert out["handler"] == "function.handler" and out["pwd"] == "/var/task"


def test_new_code_retires_environments_and_versions_keep_their_digest(
    lambda_client: Any, server: LambdadServer, images: Images, tmp_path: Path
) -> None:
    name = create(lambda_client, images.scratch)
    assert invoke(lambda_client, name)["image_var"] == "one"  # a warm environment now
    one = lambda_client.publish_version(FunctionName=name)
    first_digest = one["CodeSha256"]

    lambda_client.update_function_code(FunctionName=name, ImageUri=images.scratch_v2)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert invoke(lambda_client, name)["image_var"] == "two"
    got = lambda_client.get_function(FunctionName=name)
    assert got["Code"]["ImageUri"] == images.scratch_v2
    assert got["Configuration"]["CodeSha256"] != first_digest

    # The tag v1 moves to another image: version 1 keeps running what it was published with.
    build(server, tmp_path, images.scratch, busybox_rootfs(tmp_path / "moved"),
          entrypoint=["/var/runtime/bootstrap"], env=["PATH=/bin", "IMAGE_VAR=moved"])  # fmt: skip
    assert invoke(lambda_client, name, "1")["image_var"] == "one"
    version = lambda_client.get_function(FunctionName=name, Qualifier="1")
    assert version["Configuration"]["CodeSha256"] == first_digest
    assert version["Code"]["ResolvedImageUri"].endswith(first_digest)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"Code": {"ImageUri": "no-such-repo:v1"}},
            "Source image no-such-repo:v1 does not exist. Provide a valid source image.",
        ),
        (
            {"Code": {"ImageUri": "IMAGE"}, "Runtime": "python3.12"},
            "Please don't provide Handler or Runtime or Layer when the intended function "
            "PackageType is Image.",
        ),
        (
            {"Code": {"ImageUri": "IMAGE"}, "Handler": "app.handler"},
            "Please don't provide Handler or Runtime or Layer when the intended function "
            "PackageType is Image.",
        ),
        ({"Code": {}}, "Please provide ImageUri when the intended function PackageType is Image."),
        ({"Code": {"ImageUri": "ARM"}}, "is not supported"),
    ],
)
def test_bad_image_functions_are_refused(
    lambda_client: Any, images: Images, params: dict[str, Any], message: str
) -> None:
    named = {"IMAGE": images.scratch, "ARM": images.arm}
    code = {k: named.get(v, v) for k, v in params["Code"].items()}  # the params stay as given
    params = {**params, "Code": code}
    with pytest.raises(ClientError) as info:
        lambda_client.create_function(
            FunctionName=f"bad-{uuid.uuid4().hex[:8]}", PackageType="Image", Role=ROLE, **params
        )
    error = info.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert message in error["Message"]


def test_image_uri_for_a_zip_function_is_refused(lambda_client: Any, images: Images) -> None:
    with pytest.raises(ClientError) as info:
        lambda_client.create_function(
            FunctionName=f"zip-{uuid.uuid4().hex[:8]}",
            Runtime="python3.12",
            Handler="app.handler",
            Role=ROLE,
            Code={"ImageUri": images.scratch},
        )
    assert info.value.response["Error"]["Message"] == (
        "Please don't provide ImageUri when the intended function PackageType is Zip."
    )


def images_rm(server: LambdadServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = [*lambdad_command("images", "rm", *args), "--endpoint", server.url]
    env = aws_env(endpoint=server.url)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def test_an_image_in_use_is_kept_unless_forced_and_then_its_functions_fail(
    lambda_client: Any, server: LambdadServer, tmp_path: Path
) -> None:
    image = build(server, tmp_path, f"doomed-{uuid.uuid4().hex[:8]}:v1",
                  busybox_rootfs(tmp_path / "root"), entrypoint=["/var/runtime/bootstrap"],
                  env=["PATH=/bin"])  # fmt: skip
    name = create(lambda_client, image)
    assert invoke(lambda_client, name)["handler"] == "function.handler"  # a warm one now
    lambda_client.publish_version(FunctionName=name)
    lambda_client.get_waiter("function_active").wait(FunctionName=name, Qualifier="1")

    refused = images_rm(server, image)  # as `docker rmi` refuses an image in use
    assert refused.returncode == 1
    assert "ResourceConflictException" in refused.stderr
    assert "in use by 2 function version(s)" in refused.stderr and f":{name}:1" in refused.stderr
    assert invoke(lambda_client, name)["handler"] == "function.handler"  # nothing changed

    forced = images_rm(server, image, "--force")
    assert forced.returncode == 0, forced.stderr
    for qualifier in ("$LATEST", "1"):
        config = lambda_client.get_function_configuration(FunctionName=name, Qualifier=qualifier)
        assert config["State"] == "Failed"
        assert config["StateReasonCode"] == "ImageDeleted"
        assert "was deleted" in config["StateReason"]
        with pytest.raises(ClientError) as failed:
            lambda_client.invoke(FunctionName=name, Qualifier=qualifier, Payload=b"{}")
        error = failed.value.response["Error"]
        assert error["Code"] == "ResourceConflictException"
        assert "in the following state: Failed" in error["Message"]
    assert images_rm(server, image).returncode == 1  # gone: nothing left to remove
