"""ImageUri forms: bare repositories, registry hosts (ECR's and host:port), tags, digests."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdad.images import ImageInvalid, ImageNotFound, parse_reference
from lambdad.images.reference import ECR_HOST
from support.fake_images import FakeImageStore

DIGEST = "sha256:" + "ab" * 32


def test_bare_repository_means_latest() -> None:
    ref = parse_reference("hello")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == ("", "hello", "latest", None)
    assert str(ref) == "hello:latest"
    assert ref.pinned(DIGEST) == f"hello@{DIGEST}"


def test_ecr_uri_with_tag() -> None:
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1.2"
    ref = parse_reference(uri)
    assert ref.registry == "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert ECR_HOST.match(ref.registry)
    assert (ref.repository, ref.tag) == ("team/app", "v1.2")
    assert str(ref) == uri
    assert ref.local_name == "team/app:v1.2"


def test_host_port_and_digest() -> None:
    ref = parse_reference(f"127.0.0.1:5000/app@{DIGEST}")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "127.0.0.1:5000",
        "app",
        None,
        DIGEST,
    )
    assert ref.pinned(DIGEST) == f"127.0.0.1:5000/app@{DIGEST}"


def test_localhost_is_a_registry_and_a_plain_path_is_not() -> None:
    assert parse_reference("localhost/app:1").registry == "localhost"
    assert parse_reference("team/app:1").registry == ""


@pytest.mark.parametrize(
    "uri",
    ["", "UPPER:tag", "app:bad tag", "app@sha256:short", "app/../x", "a" * 600, "app:-x"],
)
def test_refused(uri: str) -> None:
    with pytest.raises(ImageInvalid):
        parse_reference(uri)


def test_fake_store_resolves_what_was_added(tmp_path: Path) -> None:
    (tmp_path / "bootstrap").write_text("#!/bin/sh\n")
    store = FakeImageStore()
    image = store.add("app:v1", tmp_path, architecture="arm64")
    assert store.resolve("app:v1") == image
    assert store.resolve(image.resolved_image_uri) == image
    assert store.lookup(image.digest) == image
    assert image.architecture == "arm64"
    with pytest.raises(ImageNotFound) as caught:
        store.resolve("app:v2")
    assert caught.value.code == "InvalidParameterValueException"
    assert "Source image app:v2 does not exist" in caught.value.message
