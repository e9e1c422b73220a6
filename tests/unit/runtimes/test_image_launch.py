"""A container image's launch plan (runtimes/image_launch.py): what its log starts with."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from lambdad.runtimes import SandboxLayout
from lambdad.runtimes.image_launch import plan_image_launch
from lambdad.runtimes.spec import ImageLaunch
from support.envkit import make_spec


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_an_image_cold_start_logs_awss_init_start_without_a_runtime_version(
    tmp_path: Path, log_format: str
) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "var" / "runtime").mkdir(parents=True)
    image = ImageLaunch(rootfs, ("/var/runtime/bootstrap",), "/var/task")
    base = make_spec(tmp_path, {}, runtime="", handler="")
    variables = {**base.environment, "AWS_LAMBDA_LOG_FORMAT": log_format}
    image_spec = dataclasses.replace(base, environment=variables, image=image)
    plan, _root = plan_image_launch(
        image_spec, image, SandboxLayout(), api_address="127.0.0.1:9001",
        listen="127.0.0.1:9001", channel_fd=7,
    )  # fmt: skip
    assert len(plan.notices) == 1
    if log_format == "Text":
        # No managed runtime runs an image: no Runtime Version (nor lambdad's extras).
        assert plan.notices[0] == "INIT_START"
        return
    event = json.loads(plan.notices[0])
    assert event["type"] == "platform.initStart"
    assert event["record"] == {
        "initializationType": "on-demand",
        "phase": "init",
        "functionName": "fn",
        "functionVersion": "$LATEST",
    }
