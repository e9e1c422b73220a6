"""`lambdad images import / ls / rm` against a live server: both archive kinds,
the archive streamed and signed by its declared hash, bad archives refused with
AWS's error, and the API refusing callers without the permission."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from lambdad.client_signing import DeclaredPayloadSigV4Auth
from support.images import build_image, busybox_layer, file, layer_tar, push
from support.registry import registry_binary, running_registry
from support.server import LambdadServer, credentials_for, run_lambdad

pytestmark = pytest.mark.compat


def lambdad(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    return run_lambdad(*args, endpoint=endpoint, timeout=120)


def test_import_list_remove(server: LambdadServer, tmp_path: Path) -> None:
    name = f"team/app-{uuid.uuid4().hex[:8]}"
    built = build_image([busybox_layer("#!/bin/sh\necho hi\n")], cmd=["app.handler"])
    oci = tmp_path / "oci.tar"
    oci.write_bytes(built.oci_layout())
    imported = lambdad("images", "import", str(oci), "--name", f"{name}:v1", endpoint=server.url)
    assert imported.returncode == 0, imported.stderr
    assert f"imported {name}:v1 (x86_64" in imported.stdout
    assert f"{name}@{built.digest}" in imported.stdout

    docker = tmp_path / "docker.tar"
    docker.write_bytes(build_image([layer_tar([file("x", "y")])], architecture="arm64")
                       .docker_archive())  # fmt: skip
    imported = lambdad("images", "import", str(docker), "--name", f"{name}:v2", endpoint=server.url)
    assert imported.returncode == 0, imported.stderr
    assert "(arm64" in imported.stdout

    listed = lambdad("images", "ls", endpoint=server.url)
    assert listed.returncode == 0, listed.stderr
    assert f"{name}:v1" in listed.stdout and f"{name}:v2" in listed.stdout

    for tag in ("v1", "v2"):
        removed = lambdad("images", "rm", f"{name}:{tag}", endpoint=server.url)
        assert removed.returncode == 0, removed.stderr
    assert name not in lambdad("images", "ls", endpoint=server.url).stdout
    gone = lambdad("images", "rm", f"{name}:v1", endpoint=server.url)
    assert gone.returncode == 1
    assert f"InvalidParameterValueException: Source image {name}:v1 does not exist" in gone.stderr


def test_bad_archives_refused(server: LambdadServer, tmp_path: Path) -> None:
    traversal = tmp_path / "traversal.tar"
    traversal.write_bytes(build_image([layer_tar([file("../../x", "y")])]).oci_layout())
    refused = lambdad("images", "import", str(traversal), "--name", "bad:1", endpoint=server.url)
    assert refused.returncode == 1
    assert "InvalidParameterValueException: Source image bad:1 is not valid" in refused.stderr
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    refused = lambdad("images", "import", str(junk), "--name", "bad:2", endpoint=server.url)
    assert refused.returncode == 1 and "not a readable tar" in refused.stderr
    bad_name = lambdad("images", "import", str(junk), "--name", "Bad Name", endpoint=server.url)
    assert bad_name.returncode == 1 and "InvalidParameterValueException" in bad_name.stderr


def test_unsigned_callers_are_refused(server: LambdadServer) -> None:
    response = httpx.post(f"{server.url}/_lambdad/images", params={"name": "x:1"}, content=b"x")
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


@pytest.mark.skipif(registry_binary() is None, reason="docker-registry is not installed")
def test_pull_from_the_configured_registry(tmp_path: Path) -> None:
    with running_registry(tmp_path / "registry") as registry:
        built = build_image([busybox_layer("#!/bin/sh\necho hi\n")])
        push(registry.url, "team/pulled", "v1", built)
        data = tmp_path / "data"
        with LambdadServer(data, args=["--image-registry", registry.url]) as server:
            uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/pulled:v1"
            pulled = lambdad("images", "pull", uri, endpoint=server.url)
            assert pulled.returncode == 0, pulled.stderr
            resolved = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team/pulled@{built.digest}"
            assert f"{uri} is {resolved}" in pulled.stdout
            assert (data / "images/rootfs" / built.digest[7:] / "bin/busybox").is_file()
            listed = lambdad("images", "ls", endpoint=server.url)
            assert "team/pulled" in listed.stdout and built.digest[:19] in listed.stdout
            missing = lambdad("images", "pull", "team/pulled:v9", endpoint=server.url)
            assert missing.returncode == 1
            assert "Source image team/pulled:v9 does not exist" in missing.stderr
            removed = lambdad("images", "rm", built.digest, endpoint=server.url)
            assert removed.returncode == 0, removed.stderr
            assert not (data / "images/rootfs" / built.digest[7:]).exists()


def test_a_body_that_is_not_the_declared_one_is_refused(server: LambdadServer) -> None:
    archive = build_image([layer_tar([file("x", "y")])]).oci_layout()
    auth = DeclaredPayloadSigV4Auth(credentials_for(server.url), "us-east-1")
    name = f"tampered-{uuid.uuid4().hex[:8]}:v1"
    response = httpx.post(
        f"{server.url}/_lambdad/images",
        params={"name": name},
        content=iter([archive]),
        headers={
            "Content-Type": "application/x-tar",
            "x-amz-content-sha256": hashlib.sha256(b"another archive").hexdigest(),
        },
        auth=auth,
        timeout=60,
    )
    assert response.status_code == 403, response.text
    assert response.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert name not in run_lambdad("images", "ls", endpoint=server.url).stdout
