"""Pulling from a real registry (Debian's docker-registry on loopback): by tag
and by digest, AWS-style URIs mapped to it, indexes, bad images, and the rules
of the --image-registry setting."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lambdad.images import ImageInvalid, ImageNotFound, RegistryUnavailable
from lambdad.images.limits import ImageLimits
from lambdad.images.registry import RegistrySettingError, parse_registries
from lambdad.images.service import ImageService
from lambdad.images.store import LocalImages
from support.images import (
    OCI_INDEX,
    OCI_MANIFEST,
    build_image,
    busybox_layer,
    digest_of,
    file,
    layer_tar,
    push,
)
from support.registry import Registry, registry_binary, running_registry

pytestmark = pytest.mark.skipif(registry_binary() is None, reason="docker-registry not installed")
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


def service(tmp_path: Path, registry: Registry, limits: ImageLimits | None = None) -> ImageService:
    return ImageService(LocalImages(tmp_path / "images", limits), parse_registries(registry.url))


def test_pull_by_tag_and_by_digest(tmp_path: Path, registry: Registry) -> None:
    built = build_image(
        [busybox_layer("#!/bin/sh\necho hi\n")], cmd=["app.handler"], compression="zstd"
    )
    digest = push(registry.url, "team/app", "v1", built)
    images = service(tmp_path, registry)
    image = images.resolve(f"{ECR}/team/app:v1")
    assert image.digest == digest
    assert image.resolved_image_uri == f"{ECR}/team/app@{digest}"
    assert (image.rootfs / "bin/busybox").stat().st_size > 100_000
    assert (image.rootfs / "var/runtime/bootstrap").read_text() == "#!/bin/sh\necho hi\n"
    assert image.config.cmd == ("app.handler",)
    assert images.resolve(f"{registry.host}/team/app@{digest}").rootfs == image.rootfs
    assert images.resolve(f"team/app@{digest}").digest == digest
    assert images.lookup(digest) == images.lookup(digest) is not None
    # a moved tag is seen at the next resolve
    moved = build_image([busybox_layer("#!/bin/sh\necho two\n")])
    push(registry.url, "team/app", "v1", moved)
    assert images.resolve("team/app:v1").digest == moved.digest
    assert len(images.local.unpacked) == 2


def test_missing_repository_tag_and_digest(tmp_path: Path, registry: Registry) -> None:
    images = service(tmp_path, registry)
    for uri in ("nothing/here:v1", "team/app:nope", f"team/app@sha256:{'0' * 64}"):
        with pytest.raises(ImageNotFound) as caught:
            images.resolve(uri)
        assert caught.value.message.endswith("does not exist. Provide a valid source image.")


def test_no_registry_configured(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFound):
        ImageService(LocalImages(tmp_path)).resolve(f"{ECR}/app:v1")


def test_index_picks_this_hosts_platform(tmp_path: Path, registry: Registry) -> None:
    amd = build_image([layer_tar([file("arch", "amd64")])])
    arm = build_image([layer_tar([file("arch", "arm64")])], architecture="arm64")
    push(registry.url, "multi", "amd", amd)
    push(registry.url, "multi", "arm", arm)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": d.digest,
                "size": len(d.manifest),
                "platform": {"os": "linux", "architecture": a},
            }
            for d, a in ((arm, "arm64"), (amd, "amd64"))
        ],
    }
    data = json.dumps(index).encode()
    put = httpx.put(
        f"{registry.url}/v2/multi/manifests/both", content=data, headers={"Content-Type": OCI_INDEX}
    )
    assert put.status_code == 201, put.text
    image = service(tmp_path, registry).resolve("multi:both")
    assert (image.rootfs / "arch").read_text() == "amd64"  # CI runs on x86_64
    assert image.digest == amd.digest


def test_concurrent_resolves_pull_and_unpack_once(tmp_path: Path, registry: Registry) -> None:
    built = build_image([busybox_layer(), layer_tar([file("top", "1")])])
    push(registry.url, "conc", "v1", built)
    images = service(tmp_path, registry)
    barrier = threading.Barrier(4)
    digests: list[str] = []

    def run() -> None:
        barrier.wait()
        digests.append(images.resolve("conc:v1").digest)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert digests == [built.digest] * 4
    assert len(images.local.unpacked) == 2


def test_corrupt_and_hostile_layers_refused(tmp_path: Path, registry: Registry) -> None:
    hostile = build_image([layer_tar([file("../../../escape", "x")])])
    push(registry.url, "bad", "traversal", hostile)
    good = build_image([layer_tar([file("a", "x" * 5000)])])
    layer = good.layers[0]
    corrupt = layer[:20] + bytes(b ^ 0x33 for b in layer[20:60]) + layer[60:]
    manifest = json.loads(good.manifest)
    manifest["layers"][0].update(digest=digest_of(corrupt), size=len(corrupt))
    good.manifest = json.dumps(manifest).encode()
    good.blobs = {
        digest_of(corrupt): corrupt,
        digest_of(good.config): good.config,
        digest_of(good.manifest): good.manifest,
    }
    push(registry.url, "bad", "corrupt", good)
    images = service(tmp_path, registry)
    with pytest.raises(ImageInvalid, match="leaves the root"):
        images.resolve("bad:traversal")
    with pytest.raises(ImageInvalid, match="corrupt"):
        images.resolve("bad:corrupt")
    assert images.images() == []


def test_unreachable_registry(tmp_path: Path) -> None:
    images = ImageService(LocalImages(tmp_path), parse_registries("http://127.0.0.1:9"))
    with pytest.raises(RegistryUnavailable):
        images.resolve("app:v1")


def test_registry_setting() -> None:
    parsed = parse_registries(
        f"http://127.0.0.1:5000, {ECR}=https://mirror.example:8443, localhost:6000=http://[::1]:6000"
    )
    assert parsed.default is not None and parsed.default.url == "http://127.0.0.1:5000"
    assert parsed.for_host(ECR) is not None and parsed.for_host(ECR).url == (  # type: ignore[union-attr]
        "https://mirror.example:8443"
    )
    assert parsed.for_host("localhost:6000").url == "http://[::1]:6000"  # type: ignore[union-attr]
    assert parsed.for_host("other.example") is parsed.default
    creds = parse_registries("https://user:secret@registry.example")
    assert creds.default is not None and creds.default.username == "user"
    assert "secret" not in creds.default.url
    for bad in ("http://registry.example", "ftp://127.0.0.1", "http://127.0.0.1,http://[::1]"):
        with pytest.raises(RegistrySettingError):
            parse_registries(bad)
