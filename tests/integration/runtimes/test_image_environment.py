"""Container image environments end to end: the image's root as the function's `/`
(read-only, the sandbox's /tmp), its command, ENV and working dir, in a bwrap sandbox."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from lambdad.images import add_mount_points
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes.image_launch import image_environment
from lambdad.runtimes.spec import ImageLaunch
from lambdad.sandbox import ProcessBackend, SandboxError
from lambdad.sandbox.egress import egress_tools, resolv_conf
from support.envkit import make_spec, request
from support.image_roots import aws_shaped, busybox_rootfs

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def image_spec(tmp_path: Path, rootfs: Path, argv: tuple[str, ...], workdir: str = "/") -> Any:
    spec = make_spec(tmp_path, {}, runtime="", handler="", user_variables={"FN_VAR": "fn"})
    env = image_environment((("IMAGE_VAR", "img"), ("FN_VAR", "image's")), dict(spec.environment))
    return dataclasses.replace(spec, environment=env, image=ImageLaunch(rootfs, argv, workdir))


async def test_scratch_image_runs_its_bootstrap_as_root(tmp_path: Path, bwrap_backend: Any) -> None:
    rootfs = busybox_rootfs(tmp_path / "rootfs")
    spec = image_spec(tmp_path, rootfs, ("/var/runtime/bootstrap", "function.handler"), "/var/task")
    env = await ExecutionEnvironment.start(spec, bwrap_backend)
    try:
        assert env.init_error is None, env.init_error.payload
        assert env.init_logs.startswith(b"INIT_START\n")  # AWS's line: no runtime version
        first = await env.invoke(request({"n": 1}), 30)
        assert first.function_error is None, first.logs
        out = json.loads(first.payload)
        assert out["event"] == {"n": 1}
        assert out["handler"] == "function.handler"
        assert out["pwd"] == "/var/task"
        assert out["uid"] == "993"
        assert out["image_var"] == "img" and out["fn_var"] == "fn"  # the function's wins
        assert out["api"] == "127.0.0.1:9001"
        # The image's root, nothing of the host's or of init's (no /usr, /var/runtime is its)
        assert out["root"].split() == ["bin", "dev", "etc", "proc", "sbin", "tmp", "var"]
        assert out["readonly"] == "yes" and out["tmp"] == "/tmp/written"
        second = await env.invoke(request({"n": 2}), 30)
        assert json.loads(second.payload)["event"] == {"n": 2} and second.reusable
    finally:
        await env.destroy("test over")


async def test_aws_shaped_image_entrypoint_gets_the_handler(
    tmp_path: Path, bwrap_backend: Any
) -> None:
    rootfs = aws_shaped(tmp_path / "rootfs")
    spec = image_spec(tmp_path, rootfs, ("/lambda-entrypoint.sh", "function.handler"), "/var/task")
    env = await ExecutionEnvironment.start(spec, bwrap_backend)
    try:
        out = json.loads((await env.invoke(request({}), 30)).payload)
        assert out["handler"] == "function.handler" and out["args"] == "function.handler"
    finally:
        await env.destroy("test over")


async def test_missing_entrypoint_fails_init(tmp_path: Path, bwrap_backend: Any) -> None:
    rootfs = busybox_rootfs(tmp_path / "rootfs")
    spec = image_spec(tmp_path, rootfs, ("/no/such/entrypoint",))
    env = await ExecutionEnvironment.start(spec, bwrap_backend)
    try:
        assert env.init_error is not None
        assert env.init_error.error_type == "Runtime.InvalidEntrypoint"
    finally:
        await env.destroy("test over")


async def test_process_backend_refuses_images(tmp_path: Path) -> None:
    rootfs = busybox_rootfs(tmp_path / "rootfs")
    spec = image_spec(tmp_path, rootfs, ("/var/runtime/bootstrap",))
    backend = ProcessBackend(state_dir=tmp_path / "state", spares=0)
    try:
        with pytest.raises(SandboxError, match="bwrap"):
            await ExecutionEnvironment.start(spec, backend)
    finally:
        await backend.close()


RESOLV_HANDLER = """printf '{"resolv":"%s"}' "$(cat /etc/resolv.conf | tr '\\n' '|')"
"""


@pytest.mark.parametrize(
    ("image_has_one", "network"), [(True, "none"), (False, "none"), (True, "egress")]
)
async def test_an_image_sees_the_resolver_a_zip_function_sees(
    tmp_path: Path, bwrap_backend: Any, image_has_one: bool, network: str
) -> None:
    host = Path("/etc/resolv.conf")
    if network == "none" and not host.is_file():
        pytest.skip("the host has no /etc/resolv.conf for a sandbox to copy")
    if network == "egress" and (os.geteuid() != 0 or egress_tools() is None):
        pytest.skip("egress needs root, slirp4netns, nsenter and iproute2")
    rootfs = busybox_rootfs(tmp_path / "rootfs")
    (rootfs / "var" / "task" / "resolv.sh").write_text(RESOLV_HANDLER)
    if image_has_one:  # what the image's build host left there
        (rootfs / "etc" / "resolv.conf").write_text("nameserver 192.0.2.1\n")
    add_mount_points(rootfs)  # as the image store makes the root
    spec = image_spec(tmp_path, rootfs, ("/var/runtime/bootstrap", "resolv.handler"))
    spec = dataclasses.replace(spec, network=network)
    env = await ExecutionEnvironment.start(spec, bwrap_backend)
    try:
        assert env.init_error is None, env.init_error.payload
        out = json.loads((await env.invoke(request({}), 30)).payload)
        # As a zip environment's: a copy of the host's resolver, or slirp's in egress.
        expected = host.read_text() if network == "none" else resolv_conf()
        assert out["resolv"] == expected.replace("\n", "|")
    finally:
        await env.destroy("test over")
