"""Ready environments: parked before their function is known, then adopted by one.

An adopted environment must be indistinguishable, from inside, from one started
for its function: its variables, cwd, search path, read-only code and layers,
memory limit, a /tmp and randomness of its own, and nothing of the host's paths.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lambdad.pool.adoption import ParkedEnvironment
from lambdad.runtimes import EnvironmentSpec
from support.envkit import make_spec, request

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Park = Callable[..., Any]


@pytest.fixture
async def park(tmp_path: Path, bwrap_backend: Any) -> AsyncIterator[Park]:
    """park(**spec_kwargs) -> a parked environment (its function unknown), destroyed at
    teardown."""
    if not getattr(bwrap_backend, "late_mounts", False):
        pytest.skip("late mounts need root")
    envs: list[ParkedEnvironment] = []

    async def start(**kw: Any) -> ParkedEnvironment:
        kw.setdefault("memory_mb", 128)
        spec = replace(make_spec(tmp_path, {}, **kw), handler="", function_name="")
        env = await ParkedEnvironment.park(spec, bwrap_backend)
        envs.append(env)
        return env

    yield start
    for env in envs:
        await env.destroy("test over")


def spec_for(tmp_path: Path, files: dict[str, str], **kw: Any) -> EnvironmentSpec:
    return make_spec(tmp_path, files, **kw)


INSIDE = """
import os, random, sys, uuid
open("/tmp/mine", "a").write(os.environ["WHO"])
def handler(event, context):
    try:
        open("/var/task/new", "w")
        writable = True
    except OSError:
        writable = False
    code_dir = os.environ["CODE_DIR"]
    return {
        "who": os.environ.get("WHO"),
        "name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "handler": os.environ.get("_HANDLER"),
        "key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "tz": os.environ.get("TZ"),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "code_writable": writable,
        "files": sorted(os.listdir("/var/task")),
        "tmp": open("/tmp/mine").read(),
        "host_path_shown": code_dir in open("/proc/self/mountinfo").read(),
        "random": random.random(),
        "uuid": str(uuid.uuid4()),
        "layer": __import__("layered").VALUE if os.path.isdir("/opt/python") else None,
    }
"""


async def test_adopted_environment_is_its_functions(
    tmp_path: Path, park: Park, bwrap_backend: Any
) -> None:
    layer = tmp_path / "layer"
    (layer / "python").mkdir(parents=True)
    (layer / "python" / "layered.py").write_text("VALUE = 'from /opt'\n")
    for p in (layer, layer / "python", layer / "python" / "layered.py"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    results = []
    for who in ("one", "two"):
        spec = spec_for(tmp_path, {"app.py": INSIDE}, user_variables={"WHO": who})
        spec = replace(
            spec,
            layer_dirs=(layer,),
            environment={**spec.environment, "CODE_DIR": str(spec.code_dir)},
        )
        env = await park()
        assert await env.adopt(spec) is None
        assert env.init_error is None, env.init_error
        assert env.spec.env_id == spec.env_id
        out = await env.invoke(request(), 30)
        assert out.function_error is None, out.payload
        results.append(json.loads(out.payload))
    for who, got in zip(("one", "two"), results, strict=True):
        assert got["who"] == who and got["tmp"] == who  # a /tmp of its own
        assert got["name"] == "fn" and got["handler"] == "app.handler"
        assert got["key"] == "AKID" and got["tz"] == ":UTC"
        assert got["cwd"] == "/var/task" and got["path0"] == "/var/task"
        assert got["code_writable"] is False
        assert got["files"] == ["app.py"]
        assert got["host_path_shown"] is False
        assert got["layer"] == "from /opt"
    assert results[0]["random"] != results[1]["random"]
    assert results[0]["uuid"] != results[1]["uuid"]


async def test_a_function_that_does_not_fit_leaves_it_parked(tmp_path: Path, park: Park) -> None:
    env = await park()
    odd = spec_for(
        tmp_path, {"app.py": "def handler(e, c):\n    return 1\n"},
        user_variables={"PYTHONPATH": "/var/task/lib"},
    )  # fmt: skip
    why = await env.adopt(odd)
    assert why is not None and "PYTHON" in why
    assert env.is_alive() and env.init_error is None
    plain = spec_for(tmp_path, {"app.py": "def handler(e, c):\n    return 2\n"})
    assert await env.adopt(plain) is None
    assert json.loads((await env.invoke(request(), 30)).payload) == 2


async def test_its_memory_limit_is_its_functions(tmp_path: Path, park: Park) -> None:
    hog = "def handler(e, c):\n    b = bytearray(200 << 20)\n    b[::4096] = b'x' * len(b[::4096])\n    return len(b)\n"  # noqa: E501
    big = await park()  # parked at 128 MB
    assert await big.adopt(spec_for(tmp_path, {"app.py": hog}, memory_mb=512)) is None
    out = await big.invoke(request(), 30)
    assert out.function_error is None, out.payload
    small = await park(memory_mb=512)
    assert await small.adopt(spec_for(tmp_path, {"app.py": hog}, memory_mb=128)) is None
    out = await small.invoke(request(), 30)
    assert out.function_error == "Unhandled" and not out.reusable


async def test_init_errors_are_reported_as_at_a_usual_start(tmp_path: Path, park: Park) -> None:
    env = await park()
    spec = spec_for(tmp_path, {"app.py": "import nothing_like_this\n"})
    assert await env.adopt(spec) is None
    assert env.init_error is not None
    assert env.init_error.error_type == "Runtime.ImportModuleError"
    assert not env.is_alive()


async def test_a_mount_point_cannot_be_filled_twice(tmp_path: Path, park: Park) -> None:
    env = await park()
    spec = spec_for(tmp_path, {"app.py": "def handler(e, c):\n    return 3\n"})
    assert await env.adopt(spec) is None
    assert await env.adopt(spec) == "not a parked environment"
    assert os.path.isdir(spec.code_dir)
