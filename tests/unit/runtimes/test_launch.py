from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lambdad.runtimes import EnvironmentSpec, InterpreterCatalog, SandboxLayout
from lambdad.runtimes.interpreters import Interpreter
from lambdad.runtimes.launch import PARK_FLAG, misfit, park, plan_launch
from lambdad.runtimes.precompile import precompiled
from lambdad.sandbox.base import Mount

PY311 = Interpreter("python", (3, 11), Path("/usr/bin/python3.11"), Path("/usr"))
PY313 = Interpreter("python", (3, 13), Path("/x/3.13/bin/python3.13"), Path("/x/3.13"))
NODE20 = Interpreter("node", (20,), Path("/usr/bin/node"), Path("/usr"))
CATALOG = InterpreterCatalog((PY311, PY313), (NODE20,))


def spec(
    tmp_path: Path,
    runtime: str,
    *,
    strict: bool = False,
    bytecode_dir: Path | None = None,
    environment: dict[str, str] | None = None,
) -> EnvironmentSpec:
    return EnvironmentSpec(
        env_id="e1",
        function_name="fn",
        function_version="$LATEST",
        runtime=runtime,
        handler="app.handler",
        code_dir=tmp_path,
        layer_dirs=(),
        memory_mb=128,
        ephemeral_storage_mb=512,
        environment={"MY": "1", **(environment or {})},
        network="none",
        work_dir=tmp_path / "w",
        strict_runtime=strict,
        bytecode_dir=bytecode_dir,
    )


def test_choose_exact_nearest_strict() -> None:
    assert CATALOG.choose("python3.11").interpreter == PY311
    nearest = CATALOG.choose("python3.12")
    assert nearest.interpreter == PY313 and nearest.notice and "python3.12" in nearest.notice
    assert CATALOG.choose("python3.12", strict=True).error
    assert CATALOG.choose("nodejs22.x").interpreter == NODE20
    assert CATALOG.choose("provided.al2023").family == "provided"
    assert CATALOG.choose("java21").error


def plan(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    runtime: str,
    catalog: InterpreterCatalog = CATALOG,
    runtime_dir: Path | None = None,
    sdk: str = "",
    **kw: object,
):
    return plan_launch(
        spec(tmp_path, runtime, **kw),  # type: ignore[arg-type]
        catalog,
        SandboxLayout(),
        opt_dir=tmp_path,
        lang_bin_dir=tmp_path,
        api_address="127.0.0.1:9001",
        listen="127.0.0.1:9001",
        channel_fd=7,
        runtime_dir=runtime_dir,
        sdk=sdk,
    )


def test_plan_python(tmp_path: Path) -> None:
    p = plan(tmp_path, "python3.13")
    assert p.error is None
    # Through its /var/lang/bin link, beside a pyvenv.cfg that keeps the host's
    # site-packages out and makes /var/lang the prefix.
    assert p.init_argv[-3:] == (
        "/var/lang/bin/python3.13",
        "-u",
        "/var/runtime/python/bootstrap.py",
    )
    assert p.links["python3.13"] == p.links["python3"] == "/x/3.13/bin/python3.13"
    assert p.files["pyvenv.cfg"] == "home = /x/3.13/bin\ninclude-system-site-packages = false\n"
    assert "--channel-fd" in p.init_argv and "7" in p.init_argv
    assert p.env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001"
    assert p.env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert p.env["MY"] == "1" and p.env["PATH"].startswith("/var/lang/bin:")
    assert p.env["PYTHONPATH"] == "/var/runtime"  # AWS's value
    assert p.env["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert p.env["LAMBDA_TASK_ROOT"] == "/var/task"
    targets = {m.target for m in p.mounts}
    assert {"/var/task", "/opt", "/var/runtime", "/var/lang/bin", "/x/3.13"} <= targets
    assert (
        p.notices[0]
        == "INIT_START Runtime Version: python:3.13\tInterpreter: /x/3.13/bin/python3.13"
    )


def test_plan_mounts_the_prepared_sdk_where_aws_has_it(tmp_path: Path) -> None:
    sdk = tmp_path / "sdk"
    p = plan(tmp_path, "python3.13", runtime_dir=sdk, sdk="boto3 1.35.36, botocore 1.35.36")
    assert Mount(sdk, "/var/lang/lib/python3.13/site-packages") in p.mounts
    assert p.notices[0].endswith("\tSDK: boto3 1.35.36, botocore 1.35.36")
    # A fallback interpreter gets the site-packages of its own version.
    p = plan(tmp_path, "python3.12", runtime_dir=sdk)
    assert Mount(sdk, "/var/lang/lib/python3.13/site-packages") in p.mounts
    assert "python3.12 is not installed" in p.notices[1]
    p = plan(tmp_path, "nodejs20.x", runtime_dir=sdk)
    assert Mount(sdk, "/var/runtime/node_modules") in p.mounts
    assert "/var/runtime/node_modules" in p.env["NODE_PATH"].split(":")
    assert p.notices[0] == "INIT_START Runtime Version: nodejs:20\tInterpreter: /usr/bin/node"


def test_plan_exec_wrapper_wraps_the_runtime_start(tmp_path: Path) -> None:
    env = {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrap.sh"}
    p = plan(tmp_path, "python3.13", environment=env)
    split = p.init_argv.index("--")
    assert p.init_argv[split + 1 :] == (
        "/opt/wrap.sh", "/var/lang/bin/python3.13", "-u", "/var/runtime/python/bootstrap.py",
    )  # fmt: skip
    p = plan(tmp_path, "nodejs20.x", environment=env)
    assert p.init_argv[-3:] == ("/opt/wrap.sh", "/usr/bin/node", "/var/runtime/node/bootstrap.mjs")
    (tmp_path / "bootstrap").write_text("#!/bin/sh\n")
    p = plan(tmp_path, "provided.al2023", environment=env)  # AWS: managed runtimes only
    assert p.init_argv[-1] == "/var/task/bootstrap" and "/opt/wrap.sh" not in p.init_argv


def test_plan_provided(tmp_path: Path) -> None:
    assert plan(tmp_path, "provided.al2023").error == (
        "Runtime.InvalidEntrypoint",
        "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
    )
    (tmp_path / "bootstrap").write_text("#!/bin/sh\n")
    p = plan(tmp_path, "provided.al2023")
    assert p.error is None and p.init_argv[-1] == "/var/task/bootstrap"


def test_plan_strict_runtime(tmp_path: Path) -> None:
    p = plan(tmp_path, "python3.12", strict=True)
    assert p.error and p.error[0] == "Runtime.InvalidRuntime"


def test_plan_runs_precompiled_scripts_from_the_bytecode_dir(tmp_path: Path) -> None:
    own = Interpreter("python", sys.version_info[:2], Path("/py/bin/python3"), Path("/py"))
    bytecode = tmp_path / "data" / "bytecode"
    p = plan(tmp_path, "python3.13", InterpreterCatalog((own,), ()), bytecode_dir=bytecode)
    init_script, runtime_script = p.init_argv[3], p.init_argv[-1]
    for script, name in ((init_script, "init"), (runtime_script, "bootstrap")):
        assert script.startswith("/var/runtime-bytecode/") and script.endswith(".pyc")
        assert f"/{name}." in script
        assert (bytecode / script.rsplit("/", 1)[1]).is_file()
    assert Mount(bytecode, "/var/runtime-bytecode") in p.mounts


def test_plan_without_bytecode_dir_runs_sources(tmp_path: Path) -> None:
    own = Interpreter("python", sys.version_info[:2], Path("/py/bin/python3"), Path("/py"))
    p = plan(tmp_path, "python3.13", InterpreterCatalog((own,), ()))
    assert p.init_argv[3] == "/var/runtime/init.py"
    assert p.init_argv[-1] == "/var/runtime/python/bootstrap.py"
    assert not any(m.target == "/var/runtime-bytecode" for m in p.mounts)


def test_precompiled_follows_source(tmp_path: Path) -> None:
    import marshal

    source = tmp_path / "src" / "s.py"
    source.parent.mkdir()
    source.write_text("X = 1\n")
    cache = tmp_path / "cache"
    version = sys.version_info[:2]
    name = precompiled(source, "/var/runtime/s.py", version, cache)
    assert name and name.startswith("s.") and name.endswith(".pyc")
    pyc = cache / name
    code = marshal.loads(pyc.read_bytes()[16:])
    assert code.co_filename == "/var/runtime/s.py"
    source.write_text("X = 22\n")
    assert precompiled(source, "/var/runtime/s.py", version, cache) == name
    assert 22 in marshal.loads(pyc.read_bytes()[16:]).co_consts
    assert precompiled(source, "/var/runtime/s.py", (3, 1), cache) is None
    assert sorted(p.name for p in source.parent.iterdir()) == ["s.py"]  # nothing beside it


def test_for_other_users_prefers_reachable_installs() -> None:
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp())  # pytest's tmp_path sits under a mode-700 dir
    try:
        root.chmod(0o755)
        installs = []
        for name, mode in (("home", 0o700), ("usr", 0o755)):
            (root / name / "bin").mkdir(parents=True)
            exe = root / name / "bin" / "python3.11"
            exe.write_text("")
            exe.chmod(0o755)
            (root / name).chmod(mode)
            installs.append(Interpreter("python", (3, 11), exe, root / name))
        mine, system = installs
        catalog = InterpreterCatalog((mine, PY313), (NODE20,), shadowed=(system,))
        other = catalog.for_other_users()
        # The private install is unreachable, PY313 does not exist: the shadowed one wins.
        assert other.pythons == (system,)
        assert other.choose("python3.11").interpreter == system
        assert other.init_python == system
    finally:
        shutil.rmtree(root)


def test_plan_on_host_paths_as_root_needs_reachable_python(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root runs the sandbox as another uid")
    p = plan_launch(
        spec(tmp_path, "python3.13"),
        InterpreterCatalog((PY313,), ()),
        SandboxLayout.host(tmp_path, tmp_path, tmp_path),
        opt_dir=tmp_path,
        lang_bin_dir=tmp_path,
        api_address="127.0.0.1:9001",
        listen="127.0.0.1:9001",
        channel_fd=7,
    )
    assert p.error and p.error[0] == "Runtime.InvalidRuntime" and "python3" in p.error[1]


def test_a_parked_plan_leaves_code_and_layers_for_later(tmp_path: Path) -> None:
    usual = plan(tmp_path, "python3.11")
    parked, late = park(usual, SandboxLayout())
    assert late == ("/var/task", "/opt")
    assert not any(m.target in late for m in parked.mounts)
    assert parked.init_argv[-1] == PARK_FLAG
    assert misfit(parked, usual, SandboxLayout()) is None


def test_what_a_parked_runtime_cannot_become(tmp_path: Path) -> None:
    parked, _ = park(plan(tmp_path, "python3.11"), SandboxLayout())
    layout = SandboxLayout()

    def why(runtime: str, **env: str) -> str | None:
        return misfit(
            parked, plan_launch(
                spec(tmp_path, runtime, environment=env), CATALOG, layout, opt_dir=tmp_path,
                lang_bin_dir=tmp_path, api_address="127.0.0.1:9001", listen="127.0.0.1:9001",
                channel_fd=9,  # another environment's channel: no matter
            ), layout,
        )  # fmt: skip

    assert why("python3.11", COLOR="blue", TZ="Europe/Paris") is None
    assert why("python3.13") == "another interpreter or bootstrap"
    assert why("nodejs20.x") is not None
    assert why("python3.11", PYTHONPATH="/var/task/lib") is not None
    assert why("python3.11", LD_PRELOAD="/var/task/x.so") is not None
    assert why("python3.11", LANG="C") is not None
    assert why("python3.11", AWS_LAMBDA_EXEC_WRAPPER="/var/task/wrap") is not None
