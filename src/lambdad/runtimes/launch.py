"""Plan how an environment's runtime starts: argv, env and mounts (pure; no I/O but stat,
and writing the bootstraps' .pyc files the first time: see `precompile`).

The plan is what `pool.environment.ExecutionEnvironment` hands to a sandbox
backend. Paths inside the sandbox come from a `SandboxLayout`, so a test double
that cannot remap paths can point them at host dirs instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lambdad.runtimes.interpreters import InterpreterCatalog, RuntimeChoice, server_python
from lambdad.runtimes.precompile import precompiled
from lambdad.runtimes.spec import EnvironmentSpec
from lambdad.runtimes.variables import execution_env, runtime_defaults
from lambdad.sandbox.base import Mount

BOOTSTRAP_DIR = Path(__file__).parent / "bootstraps"
"""Host dir of the in-sandbox files (init and built-in runtime bootstraps), seen at /var/runtime."""

RUNTIME_API_PORT = 9001


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
    notices: tuple[str, ...] = ()
    error: tuple[str, str] | None = None
    """(errorType, message): Init fails before anything starts."""


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
) -> LaunchPlan:
    """`opt_dir`/`lang_bin_dir` are host dirs mounted at /opt and /var/lang/bin;
    `api_address` is AWS_LAMBDA_RUNTIME_API as the runtime sees it, `listen` how
    init gets its socket ("127.0.0.1:9001", or "fd:N" for one bound by the host),
    `channel_fd` init's end of the host channel."""
    init_python = server_python()
    error: tuple[str, str] | None = None
    if layout.host_paths and os.geteuid() == 0:
        # The process backend runs the sandbox as its uid on the host's files.
        catalog = catalog.for_other_users()
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
    if choice.family == "python" and choice.interpreter:
        private = ("--private-channel",)
        bootstrap = [
            str(choice.interpreter.executable),
            "-u",
            _script(layout, "python/bootstrap.py", choice.interpreter.version, spec.bytecode_dir),
        ]
    elif choice.family == "node" and choice.interpreter:
        bootstrap = [str(choice.interpreter.executable), f"{layout.runtime}/node/bootstrap.mjs"]
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
    ]
    prefixes: list[Path] = []
    for interp in (init_python, runtime_interp, *catalog.nodes[:1]):
        if interp and interp.needs_mount and interp.prefix not in prefixes:
            prefixes.append(interp.prefix)
    mounts.extend(Mount(p, str(p)) for p in prefixes)

    init_argv = (
        str(init_python.executable),
        "-I",
        "-S",
        _script(layout, "init.py", init_python.version, spec.bytecode_dir),
        "--listen",
        listen,
        "--channel-fd",
        str(channel_fd),
        *private,
        "--",
        *bootstrap,
    )
    if spec.bytecode_dir is not None and any(
        arg.startswith(f"{layout.bytecode}/") for arg in init_argv
    ):
        mounts.append(Mount(spec.bytecode_dir, layout.bytecode))
    notices = (choice.notice,) if choice.notice else ()
    return LaunchPlan(choice, init_argv, env, tuple(mounts), links, notices, error)
