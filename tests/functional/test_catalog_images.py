"""Container image functions in the catalog: created from an ImageUri, pinned to its digest,
updated to a new tag, published; AWS's refusals. On the real store (SQLite/PostgreSQL)
with the image store's fake (directories registered under URIs)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa

from lambdad.catalog import (
    CodeCache,
    FunctionConfig,
    FunctionState,
    ImageConfig,
    LastUpdateStatus,
    Version,
)
from lambdad.catalog.names import Account
from lambdad.catalog.service import Catalog
from lambdad.errors import InvalidParameterValue
from lambdad.images import ImageArchitectureMismatch, ImageNotFound
from lambdad.store import BlobStore, FunctionStore
from support.fake_images import FakeImageStore
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::000000000000:role/r"
IMAGE = FunctionConfig(runtime="", handler="", role=ROLE, package_type="Image")


@pytest.fixture
async def catalog(
    engine: sa.Engine, tmp_path: Path
) -> AsyncIterator[tuple[Catalog, FakeImageStore]]:
    images = FakeImageStore()
    for tag in ("v1", "v2"):
        (tmp_path / tag).mkdir()
        images.add(f"repo:{tag}", tmp_path / tag)
    (tmp_path / "arm").mkdir()
    images.add("repo:arm", tmp_path / "arm", architecture="arm64")
    blobs = BlobStore(tmp_path / "blobs")
    async with anyio.create_task_group() as tg:

        def spawn(func: Callable[[], Awaitable[None]]) -> None:
            async def run() -> None:
                await func()

            tg.start_soon(run)

        yield (
            Catalog(
                Account(region="us-east-1", account_id="000000000000"),
                FunctionStore(engine, "us-east-1"),
                blobs,
                CodeCache(blobs, tmp_path / "code"),
                spawn,
                images=images,
            ),
            images,
        )
        tg.cancel_scope.cancel()


async def active(catalog: Catalog, name: str, qualifier: str = "$LATEST") -> Version:
    """The version once its activation (in the background) is over."""
    ref = catalog.account.resolve(name, qualifier)

    async def settled() -> Version | None:
        version = await catalog.get_version(ref)
        busy = version.last_update_status is LastUpdateStatus.IN_PROGRESS
        return version if version.state is FunctionState.ACTIVE and not busy else None

    return await wait_until_async(settled, what=f"{name}:{qualifier} active")


async def test_image_function_is_pinned_to_its_digest(
    catalog: tuple[Catalog, FakeImageStore],
) -> None:
    cat, images = catalog
    v1 = images.images["repo:v1"]
    created = await cat.create_function("img", IMAGE, None, {}, image_uri="repo:v1")
    assert created.config.image_uri == "repo:v1"
    assert created.config.resolved_image_uri == v1.resolved_image_uri
    assert created.image_digest == v1.digest
    assert created.code_sha256 == v1.digest.removeprefix("sha256:")  # hex, as AWS shows it
    await active(cat, "img")

    published = await cat.publish_version("img")
    await active(cat, "img", published.version)
    updated = await cat.update_code("img", None, image_uri="repo:v2")
    assert updated.image_digest == images.images["repo:v2"].digest
    assert updated.config.image_uri == "repo:v2"
    one = await active(cat, "img", published.version)
    assert one.image_digest == v1.digest  # the version keeps what it was published with
    assert one.config.resolved_image_uri == v1.resolved_image_uri


async def test_image_config_is_kept_and_updated(catalog: tuple[Catalog, FakeImageStore]) -> None:
    cat, _ = catalog
    config = dataclasses.replace(IMAGE, image_config=ImageConfig(command=("app.handler",)))
    await cat.create_function("cfg", config, None, {}, image_uri="repo:v1")
    await active(cat, "cfg")
    overrides = ImageConfig(entry_point=("/bin/sh",), working_directory="/w")
    updated = await cat.update_configuration("cfg", {"image_config": overrides})
    assert updated.config.image_config == overrides


@pytest.mark.parametrize(
    ("config", "image_uri", "zip_file", "message"),
    [
        (
            dataclasses.replace(IMAGE, runtime="python3.12"),
            "repo:v1",
            None,
            "Please don't provide Handler or Runtime or Layer",
        ),
        (dataclasses.replace(IMAGE, handler="a.b"), "repo:v1", None, "Handler or Runtime"),
        (IMAGE, None, None, "Please provide ImageUri"),
        (IMAGE, "repo:v1", b"PK", "Please don't provide ZipFile"),
        (
            FunctionConfig(runtime="python3.12", handler="a.b", role=ROLE),
            "repo:v1",
            None,
            "Please don't provide ImageUri when the intended function PackageType is Zip.",
        ),
        (
            FunctionConfig(
                runtime="python3.12", handler="a.b", role=ROLE, image_config=ImageConfig()
            ),
            None,
            b"PK",
            "Please don't provide ImageConfig",
        ),
    ],
)
async def test_create_refuses_what_aws_refuses(
    catalog: tuple[Catalog, FakeImageStore],
    config: FunctionConfig,
    image_uri: str | None,
    zip_file: bytes | None,
    message: str,
) -> None:
    cat, _ = catalog
    with pytest.raises(InvalidParameterValue, match=message.replace("(", r"\(")):
        await cat.create_function("bad", config, zip_file, {}, image_uri=image_uri)


async def test_missing_image_and_wrong_architecture(
    catalog: tuple[Catalog, FakeImageStore],
) -> None:
    cat, _ = catalog
    with pytest.raises(ImageNotFound) as missing:
        await cat.create_function("gone", IMAGE, None, {}, image_uri="repo:nope")
    assert str(missing.value) == (
        "Source image repo:nope does not exist. Provide a valid source image."
    )
    assert missing.value.code == "InvalidParameterValueException"
    with pytest.raises(ImageArchitectureMismatch):
        await cat.create_function("arm", IMAGE, None, {}, image_uri="repo:arm")
    arm = dataclasses.replace(IMAGE, architectures=("arm64",))
    assert (await cat.create_function("arm", arm, None, {}, image_uri="repo:arm")).image_digest


async def test_update_code_sources_follow_the_package_type(
    catalog: tuple[Catalog, FakeImageStore],
) -> None:
    cat, _ = catalog
    await cat.create_function("img2", IMAGE, None, {}, image_uri="repo:v1")
    await active(cat, "img2")
    with pytest.raises(InvalidParameterValue, match="Please provide ImageUri when updating"):
        await cat.update_code("img2", b"PK")
    with pytest.raises(InvalidParameterValue, match="Please don't provide Handler or Runtime"):
        await cat.update_configuration("img2", {"runtime": "python3.12"})
