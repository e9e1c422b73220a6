"""Importing archives into the local store: both archive kinds, shared layers
unpacked once, concurrent resolves unpacked once, and bad images refused."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from lambdad.images import ImageInvalid, ImageNotFound, ImageTooLarge, ImageUnsupported
from lambdad.images.limits import ImageLimits
from lambdad.images.service import ImageService
from lambdad.images.store import LocalImages
from support.images import OCI_MANIFEST, BuiltImage, build_image, digest_of, file, layer_tar
from support.waiting import wait_until

BASE = layer_tar([file("etc/os-release", "ID=scratch\n"), file("bin/tool", "#!/bin/sh\n", 0o755)])
APP = layer_tar([file("var/task/app.sh", "echo hi\n", 0o755), file("etc/.wh.os-release")])


def service(tmp_path: Path, limits: ImageLimits | None = None) -> ImageService:
    return ImageService(LocalImages(tmp_path / "images", limits))


def archive(tmp_path: Path, data: bytes, name: str = "image.tar") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def simple_image() -> BuiltImage:
    return build_image(
        [BASE, APP],
        entrypoint=["/var/task/app.sh"],
        cmd=["handler.main"],
        env=["A=1", "PATH=/bin"],
        working_dir="/var/task",
    )


def test_import_oci_layout(tmp_path: Path) -> None:
    images = service(tmp_path)
    built = simple_image()
    image = images.import_archive(archive(tmp_path, built.oci_layout()), "team/app:v1")
    assert image.digest == built.digest
    assert image.image_uri == "team/app:v1"
    assert image.resolved_image_uri == f"team/app@{built.digest}"
    assert (image.rootfs / "var/task/app.sh").read_text() == "echo hi\n"
    assert not (image.rootfs / "etc/os-release").exists()  # the whiteout applied
    assert image.config.entrypoint == ("/var/task/app.sh",)
    assert image.config.cmd == ("handler.main",)
    assert image.config.working_dir == "/var/task"
    assert image.config.env == (("A", "1"), ("PATH", "/bin"))
    assert image.architecture == "x86_64"
    assert image.size_bytes == len("ID=scratch\n#!/bin/sh\necho hi\n")
    # the name, with or without a registry host in front, and the digest name it
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1"
    assert images.resolve(ecr).rootfs == image.rootfs
    assert images.resolve(ecr).resolved_image_uri.endswith(f"/team/app@{built.digest}")
    assert images.resolve(f"team/app@{built.digest}").digest == built.digest
    assert images.lookup(built.digest) is not None
    with pytest.raises(ImageNotFound):
        images.resolve("team/app:v2")


def test_import_docker_archive(tmp_path: Path) -> None:
    images = service(tmp_path)
    built = build_image([BASE, APP], architecture="arm64", cmd=["app.handler"])
    image = images.import_archive(archive(tmp_path, built.docker_archive()), "app")
    assert image.image_uri == "app:latest"
    assert image.architecture == "arm64"
    assert image.config.cmd == ("app.handler",)
    assert (image.rootfs / "bin/tool").read_text() == "#!/bin/sh\n"
    assert images.resolve("app").digest == image.digest


def test_a_shared_layer_is_unpacked_once(tmp_path: Path) -> None:
    images = service(tmp_path)
    first = images.import_archive(archive(tmp_path, simple_image().oci_layout()), "a:1")
    other = build_image([BASE, layer_tar([file("other", "2")])])
    base_blob = images.local.blobs.path(digest_of(other.layers[0]))
    inode = base_blob.stat().st_ino
    second = images.import_archive(archive(tmp_path, other.oci_layout(), "b.tar"), "b:1")
    assert base_blob.stat().st_ino == inode  # a blob already stored is not written again
    assert len(images.local.unpacked) == 3  # BASE once, APP, and the other top layer
    assert os.stat(first.rootfs / "bin/tool").st_ino == os.stat(second.rootfs / "bin/tool").st_ino


def test_concurrent_imports_unpack_once(tmp_path: Path) -> None:
    images = service(tmp_path)
    path = archive(tmp_path, simple_image().oci_layout())
    barrier = threading.Barrier(4)
    results: list[str] = []

    def run(n: int) -> None:
        barrier.wait()
        results.append(images.import_archive(path, f"app:{n}").digest)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 4
    assert len(images.local.unpacked) == 2
    assert len(list((tmp_path / "images/rootfs").iterdir())) == 1


def test_remove_a_name_removes_an_unnamed_image(tmp_path: Path) -> None:
    images = service(tmp_path)
    path = archive(tmp_path, simple_image().oci_layout())
    image = images.import_archive(path, "app:1")
    images.import_archive(path, "app:2")
    images.remove("app:1")
    assert images.resolve("app:2").rootfs.exists()
    images.remove("app:2")
    assert not image.rootfs.exists()
    assert images.images() == []
    assert list((tmp_path / "images/layers").iterdir()) == []
    assert list((tmp_path / "images/blobs").iterdir()) == []
    with pytest.raises(ImageNotFound):
        images.remove("app:2")


def test_a_blob_whose_digest_lies_is_refused(tmp_path: Path) -> None:
    built = simple_image()
    layer_digest = digest_of(built.layers[0])
    built.blobs[layer_digest] = built.layers[1]  # another layer's bytes under its name
    with pytest.raises(ImageInvalid, match="content of"):
        service(tmp_path).import_archive(archive(tmp_path, built.oci_layout()), "app")
    assert not (tmp_path / "images/blobs" / layer_digest[7:]).exists()


def test_a_corrupt_layer_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    corrupt = build_image([BASE])
    layer = corrupt.layers[0]
    broken = layer[:30] + bytes(b ^ 0x55 for b in layer[30:80]) + layer[80:]
    bad = build_image([BASE])
    # rebuild the manifest around the corrupt (but correctly addressed) layer
    manifest = json.loads(bad.manifest)
    manifest["layers"][0]["digest"] = digest_of(broken)
    manifest["layers"][0]["size"] = len(broken)
    data = json.dumps(manifest).encode()
    bad.blobs = {
        digest_of(broken): broken,
        digest_of(bad.config): bad.config,
        digest_of(data): data,
    }
    bad.manifest = data
    images = service(tmp_path)
    with pytest.raises(ImageInvalid, match="corrupt"):
        images.import_archive(archive(tmp_path, bad.oci_layout()), "app")
    assert images.images() == []
    assert [p for p in (tmp_path / "images/layers").iterdir()] == []
    assert [p for p in (tmp_path / "images/rootfs").iterdir()] == []


def test_path_traversal_in_a_layer_is_refused(tmp_path: Path) -> None:
    hostile = build_image([layer_tar([file("../../escape", "x")])])
    with pytest.raises(ImageInvalid, match="leaves the root"):
        service(tmp_path).import_archive(archive(tmp_path, hostile.oci_layout()), "app")
    assert not (tmp_path / "escape").exists()


def test_too_large_refused(tmp_path: Path) -> None:
    big = build_image(
        [layer_tar([file("a", b"x" * 60_000)]), layer_tar([file("b", b"y" * 60_000)])]
    )
    limits = ImageLimits(max_bytes=100_000)
    with pytest.raises(ImageTooLarge):
        service(tmp_path, limits).import_archive(archive(tmp_path, big.oci_layout()), "app")


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda m, c: m.update(schemaVersion=1), ImageUnsupported, "schemaVersion"),
        (
            lambda m, c: m["layers"][0].update(mediaType="application/x-rar"),
            ImageUnsupported,
            "layer media type",
        ),
        (lambda m, c: m["config"].update(mediaType="text/plain"), ImageUnsupported, "config"),
        (lambda m, c: m["layers"][0].update(digest="md5:abc"), ImageUnsupported, "not sha256"),
        (lambda m, c: m.update(layers="nope"), ImageInvalid, "no layers"),
        (lambda m, c: c.update(architecture="s390x"), ImageUnsupported, "architecture"),
        (lambda m, c: c.update(os="windows"), ImageUnsupported, "not linux"),
        (lambda m, c: c["config"].update(Cmd="sh -c x"), ImageInvalid, "Cmd"),
    ],
    ids=[
        "schema1",
        "layer-type",
        "config-type",
        "digest-algo",
        "layers-shape",
        "arch",
        "os",
        "cmd-shape",
    ],
)
def test_bad_documents_refused(tmp_path: Path, change, error, match) -> None:  # type: ignore[no-untyped-def]
    built = build_image([BASE])
    manifest, config = json.loads(built.manifest), json.loads(built.config)
    change(manifest, config)
    config_bytes = json.dumps(config).encode()
    if isinstance(manifest.get("config"), dict) and manifest["config"].get("digest", "").startswith(
        "sha256:"
    ):
        manifest["config"].update(digest=digest_of(config_bytes), size=len(config_bytes))
    data = json.dumps(manifest).encode()
    built.blobs = {
        digest_of(built.layers[0]): built.layers[0],
        digest_of(config_bytes): config_bytes,
        digest_of(data): data,
    }
    built.manifest = data
    with pytest.raises(error, match=match):
        service(tmp_path).import_archive(archive(tmp_path, built.oci_layout()), "app")


def test_not_an_archive(tmp_path: Path) -> None:
    with pytest.raises(ImageInvalid, match="not a readable tar"):
        service(tmp_path).import_archive(archive(tmp_path, b"PK\x03\x04 zip"), "app")
    with pytest.raises(ImageInvalid, match="neither"):
        service(tmp_path).import_archive(archive(tmp_path, layer_tar([file("x")])), "app")


def test_a_sweep_waits_for_images_being_made(tmp_path: Path) -> None:
    images = service(tmp_path)
    image = images.import_archive(archive(tmp_path, simple_image().oci_layout()), "app:1")
    layers = tmp_path / "images/layers"
    with images.local.building():  # as an import or a pull in progress holds it
        remover = threading.Thread(target=images.remove, args=("app:1",))
        remover.start()
        wait_until(lambda: images.local.record(image.digest) is None, "the record removed")
        assert list(layers.iterdir())  # the sweep waits: they may be the new image's
    remover.join(timeout=60)
    assert not remover.is_alive()
    assert list(layers.iterdir()) == []


def test_an_archive_of_several_images_is_refused_clearly(tmp_path: Path) -> None:
    first, second = simple_image(), build_image([BASE])
    index = {
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": b.digest, "size": len(b.manifest)}
            for b in (first, second)
        ],
    }
    first.blobs.update(second.blobs)
    with pytest.raises(ImageInvalid, match="lists 2 images and no platforms"):
        service(tmp_path).import_archive(archive(tmp_path, first.oci_layout(index)), "app")
