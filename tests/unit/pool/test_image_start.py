"""What a container image function's environment runs: command, working dir, variables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lambdad.catalog import FunctionConfig, ImageConfig
from lambdad.images import ImageNotFound, ImageRuntimeConfig, ResolvedImage
from lambdad.pool.image_start import handler_of, image_launch, image_variables, pinned_image
from lambdad.runtimes.image_launch import IMAGE_PATH, IMAGE_ROOT, image_root
from support.catalog import make_version
from support.fake_images import FakeImageStore

SETTINGS = ImageRuntimeConfig(
    entrypoint=("/lambda-entrypoint.sh",),
    cmd=("app.handler",),
    working_dir="/var/task",
    env=(("PATH", "/var/lang/bin:/usr/bin"), ("LANG", "C"), ("FROM_IMAGE", "1")),
)


def image(tmp_path: Path, settings: ImageRuntimeConfig = SETTINGS) -> ResolvedImage:
    store = FakeImageStore()
    return store.add("repo:v1", tmp_path, settings)


def test_image_settings_start_the_function(tmp_path: Path) -> None:
    launch = image_launch(image(tmp_path), None)
    assert launch.argv == ("/lambda-entrypoint.sh", "app.handler")
    assert launch.working_dir == "/var/task" and launch.rootfs == tmp_path
    assert handler_of(image(tmp_path), None) == "app.handler"


def test_image_config_overrides_each_setting_it_sets(tmp_path: Path) -> None:
    img = image(tmp_path)
    only_command = image_launch(img, ImageConfig(command=("other.handler",)))
    assert only_command.argv == ("/lambda-entrypoint.sh", "other.handler")
    assert handler_of(img, ImageConfig(command=("other.handler",))) == "other.handler"
    overrides = ImageConfig(
        entry_point=("/bin/sh", "-c"), command=("echo",), working_directory="/w"
    )
    launch = image_launch(img, overrides)
    assert launch.argv == ("/bin/sh", "-c", "echo") and launch.working_dir == "/w"
    emptied = image_launch(img, ImageConfig(command=()))
    assert emptied.argv == ("/lambda-entrypoint.sh",)


def test_no_workdir_runs_in_root(tmp_path: Path) -> None:
    launch = image_launch(image(tmp_path, ImageRuntimeConfig(cmd=("/x",))), None)
    assert launch.working_dir == "/" and launch.argv == ("/x",)


def test_variables_function_and_lambda_over_image_env(tmp_path: Path) -> None:
    lambda_env = {"LANG": "en_US.UTF-8", "AWS_EXECUTION_ENV": "AWS_Lambda_", "MINE": "m"}
    env = image_variables(image(tmp_path), lambda_env)
    assert env["FROM_IMAGE"] == "1" and env["MINE"] == "m"
    assert env["LANG"] == "en_US.UTF-8"  # Lambda's (and the function's) win
    assert env["PATH"] == "/var/lang/bin:/usr/bin"  # the image's own
    assert "AWS_EXECUTION_ENV" not in env
    bare = image_variables(image(tmp_path, ImageRuntimeConfig()), {})
    assert bare["PATH"] == IMAGE_PATH


def test_versions_run_their_pinned_digest(tmp_path: Path) -> None:
    store = FakeImageStore()
    first = store.add("repo:v1", tmp_path / "a")
    config = FunctionConfig(
        runtime="",
        handler="",
        role="r",
        package_type="Image",
        image_uri="repo:v1",
        resolved_image_uri=first.resolved_image_uri,
    )
    version = make_version(code_key=first.digest.removeprefix("sha256:"), config=config)
    store.add("repo:v2", tmp_path / "b")
    assert pinned_image(store, version).rootfs == tmp_path / "a"
    assert store.resolved == []  # by its digest: what the tag names now plays no part
    del store.images["repo:v1"]  # a store that lost it fetches it again, by digest
    with pytest.raises(ImageNotFound):
        pinned_image(store, version)
    assert store.resolved == [first.resolved_image_uri]
    with pytest.raises(ImageNotFound):
        pinned_image(None, version)


def test_image_root_lists_top_level_entries(tmp_path: Path) -> None:
    (tmp_path / "usr").mkdir()
    (tmp_path / "proc").mkdir()  # the sandbox makes its own
    (tmp_path / "entry.sh").write_text("")
    os.symlink("usr/bin", tmp_path / "bin")
    os.mkfifo(tmp_path / "fifo")  # neither dir, file nor link: left out
    child, mounts = image_root(tmp_path)
    assert child.path == IMAGE_ROOT and child.symlinks == (("usr/bin", "bin"),)
    assert [(m.source.name, m.target, m.writable) for m in mounts] == [
        ("entry.sh", f"{IMAGE_ROOT}/entry.sh", False),
        ("usr", f"{IMAGE_ROOT}/usr", False),
    ]
