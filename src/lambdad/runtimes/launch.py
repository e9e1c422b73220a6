"""Plan how an environment's runtime starts: argv, env and mounts (pure; no I/O but stat,
and writing the bootstraps' .pyc files the first time: see `precompile`).

The plan is what `pool.environment.ExecutionEnvironment` hands to a sandbox
backend. Paths inside the sandbox come from a `SandboxLayout`, so a test double
that cannot remap paths can point them at host dirs instead.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from lambdad.runtimes.bundles import Bundle, bundle_for
from lambdad.runtimes.interpreters import (
    Interpreter,
    InterpreterCatalog,
    RuntimeChoice,
    server_python,
)
from lambdad.runtimes.precompile import precompiled
from lambdad.runtimes.prepare import NODE_MODULES, site_packages
from lambdad.runtimes.spec import EnvironmentSpec
from lambdad.runtimes.variables import execution_env, runtime_defaults
from lambdad.sandbox.base import Mount

BOOTSTRAP_DIR = Path(__file__).parent / "bootstraps"
"""Host dir of the in-sandbox files (init and built-in runtime bootstraps), seen at /var/runtime."""

PRE_INIT_VARIABLE = "_LAMBDAD_PRE_INIT"
"""In an on-demand template's variables: its runtime forks before Init (see
`pool/preinit.py`); the bootstrap takes it out, and no child gets it."""
RUNTIME_API_PORT = 9001
RUNTIME_FD_FLAG = "--runtime-fd"
OUTPUT_FD_FLAG = "--output-fd"
"""init's options naming the fds of a direct-channel runtime (`runtimes.direct`)."""


@dataclass(frozen=True)
class SandboxLayout:
    """Where things are seen inside the sandbox."""

    task: str = "/var/task"
    opt: str = "/opt"
    runtime: str = "/var/runtime"
    lang_bin: str = "/var/lang/bin"
    """A dir on PATH holding `python3`/`node` links to the real interpreters."""
    host_paths: bool = False
    """Nothing is mounted: the sandbox sees the host's own files (as its own uid when
    the server is root), so interpreters must be ones any user can run."""
    bytecode: str = "/var/runtime-bytecode"
    """The server's precompiled bootstraps (see `precompile`)."""

    @classmethod
    def host(cls, code_dir: Path, opt_dir: Path, lang_bin_dir: Path) -> SandboxLayout:
        """Host paths for backends that cannot remap paths (the "process" backend)."""
        return cls(str(code_dir), str(opt_dir), str(BOOTSTRAP_DIR), str(lang_bin_dir), True)


@dataclass(frozen=True)
class LaunchPlan:
    choice: RuntimeChoice
    init_argv: tuple[str, ...]
    """The sandbox's init process; the runtime's bootstrap argv follows its "--"."""
    env: dict[str, str]
    mounts: tuple[Mount, ...]
    links: dict[str, str] = field(default_factory=dict)
    """Names to create in the host dir mounted at `layout.lang_bin` → link targets."""
    files: dict[str, str] = field(default_factory=dict)
    """Names to write in that dir → their text (the interpreter's pyvenv.cfg)."""
    notices: tuple[str, ...] = ()
    error: tuple[str, str] | None = None
    """(errorType, message): Init fails before anything starts."""
    sdk: str = ""
    """What the runtime's prepared SDK holds (the INIT_START line names it)."""


def _script(
    layout: SandboxLayout, name: str, version: tuple[int, ...], bytecode_dir: Path | None
) -> str:
    """The in-sandbox path to run for BOOTSTRAP_DIR/`name`: its precompiled .pyc in
    `bytecode_dir` when there is one for `version` (see `precompile`), else the source.
    Host-path layouts run the source: the sandbox's uid may not reach the data dir."""
    seen_as = f"{layout.runtime}/{name}"
    if bytecode_dir is None or layout.host_paths:
        return seen_as
    pyc = precompiled(BOOTSTRAP_DIR / name, seen_as, version, bytecode_dir)
    return seen_as if pyc is None else f"{layout.bytecode}/{pyc}"


def find_bootstrap(spec: EnvironmentSpec, opt_dir: Path) -> str | None:
    """Which custom-runtime `bootstrap` Lambda would run: /var/task's, else /opt's."""
    if (spec.code_dir / "bootstrap").is_file():
        return "task"
    if (opt_dir / "bootstrap").is_file():
        return "opt"
    return None


def sandbox_catalog(catalog: InterpreterCatalog, layout: SandboxLayout) -> InterpreterCatalog:
    """The interpreters a sandbox with this layout can run (see `for_other_users`)."""
    if layout.host_paths and os.geteuid() == 0:
        return catalog.for_other_users()
    return catalog


def plan_launch(
    spec: EnvironmentSpec,
    catalog: InterpreterCatalog,
    layout: SandboxLayout,
    *,
    opt_dir: Path,
    lang_bin_dir: Path,
    api_address: str,
    listen: str,
    channel_fd: int,
    runtime_dir: Path | None = None,
    sdk: str = "",
    direct_fds: tuple[int, int] | None = None,
) -> LaunchPlan:
    """`opt_dir`/`lang_bin_dir` are host dirs mounted at /opt and /var/lang/bin;
    `api_address` is AWS_LAMBDA_RUNTIME_API as the runtime sees it, `listen` how
    init gets its socket ("127.0.0.1:9001", or "fd:N" for one bound by the host),
    `channel_fd` init's end of the host channel, `runtime_dir` the runtime's
    prepared SDK (see `prepare`), mounted read-only where AWS has it, and `sdk`
    what it holds (for the INIT_START line). `direct_fds`: (the runtime's end of its
    direct channel, the write end of its output pipe), both the host's (see
    `runtimes.direct`): the built-in Python runtime then talks to the host, not init."""
    init_python = server_python()
    error: tuple[str, str] | None = None
    if layout.host_paths and os.geteuid() == 0:
        # The process backend runs the sandbox as its uid on the host's files.
        catalog = sandbox_catalog(catalog, layout)
        if catalog.init_python is None:
            error = (
                "Runtime.InvalidRuntime",
                "No Python 3.9+ on this host can be run by the sandbox's user: the "
                f"server's own ({init_python.executable}) is out of its reach; "
                "install a system python3 (e.g. /usr/bin/python3)",
            )
        else:
            init_python = catalog.init_python
    choice = catalog.choose(spec.runtime, strict=spec.strict_runtime)
    if choice.error and error is None:
        error = ("Runtime.InvalidRuntime", choice.error)

    bootstrap: list[str] = []
    private: tuple[str, ...] = ()  # only our python bootstrap speaks init's private channel
    files: dict[str, str] = {}
    mounts_first: list[Mount] = []
    if choice.family == "python" and choice.interpreter:
        private = ("--private-channel",)
        if direct_fds is not None:
            private = (RUNTIME_FD_FLAG, str(direct_fds[0]), OUTPUT_FD_FLAG, str(direct_fds[1]))
        python = choice.interpreter
        # Started through its link in /var/lang/bin beside a pyvenv.cfg: Python then
        # takes /var/lang as its prefix, so its site-packages is the runtime's
        # (/var/lang/lib/pythonX.Y/site-packages), never the host install's.
        version = f"{python.version[0]}.{python.version[1]}"
        stdlib = _relocatable_stdlib(python, layout, runtime_dir)
        if stdlib is not None:
            # Its standard library seen where AWS's is: tracebacks name
            # /var/lang/lib/pythonX.Y/..., never the host's install.
            mounts_first.append(Mount(stdlib, f"/var/lang/lib/python{version}"))
        home = layout.lang_bin if stdlib is not None else str(python.executable.parent)
        files["pyvenv.cfg"] = f"home = {home}\ninclude-system-site-packages = false\n"
        start = f"{layout.lang_bin}/python{python.version[0]}.{python.version[1]}"
        if layout.host_paths:
            # The sandbox's uid may not reach our per-environment dirs there: the real
            # binary (this backend isolates nothing: the host's site-packages show too).
            start = str(python.executable)
        bootstrap = [
            start,
            "-u",
            _script(layout, "python/bootstrap.py", python.version, spec.bytecode_dir),
        ]
        if layout.opt != "/opt":
            bootstrap += ["--opt", layout.opt]
    elif choice.family == "node" and choice.interpreter:
        bootstrap = [str(choice.interpreter.executable), f"{layout.runtime}/node/bootstrap.mjs"]
    wrapper = spec.environment.get("AWS_LAMBDA_EXEC_WRAPPER")
    if wrapper and bootstrap and choice.family in ("python", "node"):
        # As AWS's runtimes do: the wrapper is exec'd with the runtime's start command
        # as its arguments (managed runtimes only; a custom bootstrap is its own wrapper).
        bootstrap = [_seen_path(wrapper, layout), *bootstrap]
    elif choice.family == "provided":
        where = find_bootstrap(spec, opt_dir)
        if where is None:
            error = (
                "Runtime.InvalidEntrypoint",
                "Couldn't find valid bootstrap(s): "
                f"[{layout.task}/bootstrap {layout.opt}/bootstrap]",
            )
        else:
            bootstrap = [f"{layout.task if where == 'task' else layout.opt}/bootstrap"]

    env = dict(runtime_defaults(choice.family, choice.requested))
    if layout.opt != "/opt":  # a backend that cannot remap paths: the layers' host dir
        env = {k: v.replace("/opt/", f"{layout.opt}/") for k, v in env.items()}
    if layout.runtime != "/var/runtime":  # and the bootstraps'
        env = {k: v.replace("/var/runtime", layout.runtime) for k, v in env.items()}
    if layout.host_paths and runtime_dir is not None and choice.family == "node":
        env["NODE_PATH"] += f"{os.pathsep}{runtime_dir}"  # nothing is mounted
    env.update(spec.environment)
    env.update(
        {
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": layout.task,
            "LAMBDA_RUNTIME_DIR": layout.runtime,
            "AWS_LAMBDA_RUNTIME_API": api_address,
        }
    )
    exec_env = execution_env(spec.runtime)
    if exec_env:
        env["AWS_EXECUTION_ENV"] = exec_env
    # Keep the function's PATH but make sure our interpreter links resolve first.
    if layout.lang_bin not in env["PATH"].split(os.pathsep):
        env["PATH"] = f"{layout.lang_bin}{os.pathsep}{env['PATH']}"

    links = {"python3": str(init_python.executable), "python": str(init_python.executable)}
    runtime_interp = choice.interpreter
    if runtime_interp and runtime_interp.family == "python":
        links["python3"] = links["python"] = str(runtime_interp.executable)
        links[f"python{runtime_interp.version[0]}.{runtime_interp.version[1]}"] = str(
            runtime_interp.executable
        )
    for node in catalog.nodes[:1]:
        links["node"] = str(node.executable)

    mounts: list[Mount] = [
        Mount(spec.code_dir, layout.task),
        Mount(opt_dir, layout.opt),
        Mount(BOOTSTRAP_DIR, layout.runtime),
        Mount(lang_bin_dir, layout.lang_bin),
        *mounts_first,
    ]
    prefixes: list[Path] = []
    for interp in (init_python, runtime_interp, *catalog.nodes[:1]):
        if interp and interp.needs_mount and interp.prefix not in prefixes:
            prefixes.append(interp.prefix)
    mounts.extend(Mount(p, str(p)) for p in prefixes)
    if runtime_dir is not None and runtime_interp is not None:
        if runtime_interp.family == "python":
            version = f"{runtime_interp.version[0]}.{runtime_interp.version[1]}"
            if layout.host_paths:  # nothing is mounted
                env["PYTHONPATH"] += f"{os.pathsep}{runtime_dir}"
            else:
                mounts.append(Mount(runtime_dir, site_packages(version)))
        elif not layout.host_paths:
            mounts.append(Mount(runtime_dir, NODE_MODULES))

    init_argv = init_command(
        init_python, layout, spec.bytecode_dir, listen, channel_fd, (*private, "--", *bootstrap)
    )
    mounts.extend(bytecode_mounts(init_argv, layout, spec.bytecode_dir))
    plan = LaunchPlan(choice, init_argv, env, tuple(mounts), links, files, (), error, sdk)
    return replace(plan, notices=start_notices(spec, plan))


def start_notices(spec: EnvironmentSpec, plan: LaunchPlan) -> tuple[str, ...]:
    """The lines a cold start of `spec` by `plan` begins its log with (INIT_START...):
    also those of an environment forked from a template `plan` started."""
    choice = plan.choice
    return (_init_start(spec, choice, plan.sdk), *([choice.notice] if choice.notice else []))


def init_command(
    init_python: Interpreter,
    layout: SandboxLayout,
    bytecode_dir: Path | None,
    listen: str,
    channel_fd: int,
    rest: tuple[str, ...],
) -> tuple[str, ...]:
    """The sandbox's init process: init.py on `init_python`, then `rest` (its further
    options, "--" and the runtime's command)."""
    return (
        str(init_python.executable),
        "-I",
        "-S",
        _script(layout, "init.py", init_python.version, bytecode_dir),
        "--listen",
        listen,
        "--channel-fd",
        str(channel_fd),
        *rest,
    )


def bytecode_mounts(
    argv: tuple[str, ...], layout: SandboxLayout, bytecode_dir: Path | None
) -> list[Mount]:
    """The precompiled bootstraps' dir, when `argv` runs one of them."""
    if bytecode_dir is not None and any(arg.startswith(f"{layout.bytecode}/") for arg in argv):
        return [Mount(bytecode_dir, layout.bytecode)]
    return []


def runtime_version_name(runtime: str) -> str:
    """AWS's runtime version name in platform lines: python3.12 -> python:3.12."""
    if runtime.startswith("provided"):
        return runtime.replace("provided.", "provided:")
    return runtime.removesuffix(".x").replace("nodejs", "nodejs:").replace("python", "python:")


def _platform_event(kind: str, record: dict[str, object]) -> str:
    """AWS's JSON platform event (a function that logs JSON gets these instead of lines)."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    stamp += f".{int(now * 1000) % 1000:03d}Z"
    return json.dumps({"time": stamp, "type": kind, "record": record}, separators=(",", ":"))


def restore_start_line(spec: EnvironmentSpec) -> str:
    """A SnapStart environment's first log line (AWS's RESTORE_START, or
    platform.restoreStart for a function that logs JSON)."""
    name = runtime_version_name(spec.runtime)
    arn = f"arn:aws:lambda:{spec.environment.get('AWS_REGION', '')}::runtime:lambdad-{spec.runtime}"
    if spec.environment.get("AWS_LAMBDA_LOG_FORMAT") == "JSON":
        record: dict[str, object] = {
            "runtimeVersion": name,
            "runtimeVersionArn": arn,
            "functionName": spec.function_name,
            "functionVersion": spec.function_version,
        }
        return _platform_event("platform.restoreStart", record)
    return f"RESTORE_START Runtime Version: {name}\tRuntime Version ARN: {arn}"


def restore_report_line(spec: EnvironmentSpec, duration_ms: float) -> str:
    """The line that ends a restore: AWS's RESTORE_REPORT (or platform.restoreReport)."""
    if spec.environment.get("AWS_LAMBDA_LOG_FORMAT") == "JSON":
        record: dict[str, object] = {
            "status": "success",
            "metrics": {"durationMs": round(duration_ms, 3)},
        }
        return _platform_event("platform.restoreReport", record)
    return f"RESTORE_REPORT Restore Duration: {duration_ms:.2f} ms"


def _init_start(spec: EnvironmentSpec, choice: RuntimeChoice, sdk: str) -> str:
    """The function log's first line at a cold start, in AWS's shape, naming what runs it:
    INIT_START Runtime Version: python:3.12\tInterpreter: /usr/bin/python3.12\tSDK: ...
    or, for a function that logs JSON, AWS's platform.initStart record."""
    runtime = spec.runtime
    name = runtime.removesuffix(".x").replace("nodejs", "nodejs:").replace("python", "python:")
    if runtime.startswith("provided"):
        name = runtime.replace("provided.", "provided:")
    extras = [("SDK", sdk)] if sdk else []
    if choice.interpreter is not None:
        extras.insert(0, ("Interpreter", str(choice.interpreter.executable)))
    return init_start(spec, name, extras)


def init_start(
    spec: EnvironmentSpec, runtime_version: str | None, extras: list[tuple[str, str]]
) -> str:
    """AWS's INIT_START line (or platform.initStart record, for JSON logs); without a
    `runtime_version` (a container image: no runtime Lambda manages) it names none,
    as the record's runtimeVersion and runtimeVersionArn are optional. `extras` are
    lambdad's own tab-separated fields after AWS's (text only)."""
    if spec.environment.get("AWS_LAMBDA_LOG_FORMAT") == "JSON":
        now = time.time()
        region = spec.environment.get("AWS_REGION", "")
        record: dict[str, str | None] = {
            "initializationType": spec.environment.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
            "phase": "init",
        }
        if runtime_version is not None:
            record["runtimeVersion"] = runtime_version
            record["runtimeVersionArn"] = f"arn:aws:lambda:{region}::runtime:lambdad-{spec.runtime}"
        record["functionName"] = spec.function_name
        record["functionVersion"] = spec.function_version
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        stamp += f".{int(now * 1000) % 1000:03d}Z"
        event = {"time": stamp, "type": "platform.initStart", "record": record}
        return json.dumps(event, separators=(",", ":"))
    line = (
        "INIT_START"
        if runtime_version is None
        else f"INIT_START Runtime Version: {runtime_version}"
    )
    return "\t".join([line, *(f"{name}: {value}" for name, value in extras)])


def runtime_bundle(
    spec: EnvironmentSpec, catalog: InterpreterCatalog, layout: SandboxLayout
) -> tuple[Bundle, Interpreter] | None:
    """What the runtime bundles, for the interpreter that will run it; None: nothing
    (a custom runtime, or no interpreter: Init fails on that later)."""
    choice = sandbox_catalog(catalog, layout).choose(spec.runtime, strict=spec.strict_runtime)
    interp = choice.interpreter
    if interp is None:
        return None
    language = f"{interp.version[0]}.{interp.version[1]}" if interp.family == "python" else ""
    bundle = bundle_for(spec.runtime, language)
    return None if bundle is None else (bundle, interp)


def _relocatable_stdlib(
    python: Interpreter, layout: SandboxLayout, runtime_dir: Path | None
) -> Path | None:
    """The interpreter's stdlib dir when it can be mounted at /var/lang/lib/pythonX.Y:
    an install of its own (pyenv, /usr/local) whose stdlib holds the site-packages dir
    the runtime's SDK is mounted over (Debian's has none: it stays at /usr/lib)."""
    if layout.host_paths or runtime_dir is None:
        return None
    stdlib = python.prefix / "lib" / f"python{python.version[0]}.{python.version[1]}"
    if (stdlib / "os.py").is_file() and (stdlib / "site-packages").is_dir():
        return stdlib
    return None


def _seen_path(path: str, layout: SandboxLayout) -> str:
    """A path the function configured (/var/task/..., /opt/...) as this layout sees it."""
    for prefix, seen in (("/var/task", layout.task), ("/opt", layout.opt)):
        if path == prefix or path.startswith(prefix + "/"):
            return seen + path[len(prefix) :]
    return path


# ---- Parked runtimes (see pool/ready.py) -----------------------------------------------------

PARK_FLAG = "--park"
"""The python bootstrap's flag: wait for its function's assignment before Init."""
STARTUP_VARIABLES = ("PYTHON", "LANG", "LC_", "LD_", "MALLOC", "GLIBC_")
"""Prefixes of the variables an interpreter (or the dynamic loader) reads as it starts:
a parked runtime started with other values than its function's cannot be given it."""


def park(plan: LaunchPlan, layout: SandboxLayout) -> tuple[LaunchPlan, tuple[str, ...]]:
    """The plan of a parked runtime (its function unknown yet): /var/task and /opt
    left as empty mount points (its late mounts), the bootstrap told to wait."""
    late = (layout.task, layout.opt)
    mounts = tuple(m for m in plan.mounts if m.target not in late)
    return replace(plan, init_argv=(*plan.init_argv, PARK_FLAG), mounts=mounts), late


def misfit(parked: LaunchPlan, plan: LaunchPlan, layout: SandboxLayout) -> str | None:
    """Why a runtime parked with `parked` (its `park`ed plan) cannot become the one
    `plan` starts (None: it can, and nothing the function could tell differs)."""
    if plan.error is not None or parked.error is not None:
        return "its Init fails before it starts"
    if plan.choice.family != "python" or not speaks_private(plan):
        return f"runtime family {plan.choice.family!r} has no parked start"
    if "AWS_LAMBDA_EXEC_WRAPPER" in plan.env:
        return "an exec wrapper starts the runtime"
    if _after_channel(parked.init_argv) != (*_after_channel(plan.init_argv), PARK_FLAG):
        return "another interpreter or bootstrap"
    if (parked.links, parked.files) != (plan.links, plan.files):
        return "other interpreter links"
    late = (layout.task, layout.opt)
    if parked.mounts != tuple(m for m in plan.mounts if m.target not in late):
        return "other runtime mounts"
    if _startup(parked.env) != _startup(plan.env):
        return "other interpreter start-up variables (PYTHON*, LANG, LC_*, LD_*)"
    return None


def _after_channel(init_argv: tuple[str, ...]) -> tuple[str, ...]:
    """init's argv without its channels' fd numbers (each environment's own)."""
    for flag in ("--channel-fd", RUNTIME_FD_FLAG, OUTPUT_FD_FLAG):
        cut = init_argv.index(flag) if flag in init_argv else -1
        if cut >= 0:
            init_argv = init_argv[:cut] + init_argv[cut + 2 :]
    return init_argv


def speaks_private(plan: LaunchPlan) -> bool:
    """Whether the plan's runtime speaks the private Runtime API (to init or the host)."""
    return "--private-channel" in plan.init_argv or is_direct(plan)


def is_direct(plan: LaunchPlan) -> bool:
    """Whether the plan's runtime talks to the host directly (`runtimes.direct`)."""
    return RUNTIME_FD_FLAG in plan.init_argv


def _startup(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(STARTUP_VARIABLES)}
