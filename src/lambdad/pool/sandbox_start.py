"""What the host sets up for an execution environment's sandbox (blocking parts run
in a thread): the Runtime API's listener, the `SandboxSpec` a zip or image start
asks its backend for, and the host dirs seen at /opt and /var/lang/bin."""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import replace
from pathlib import Path

from lambdad.runtimes.launch import RUNTIME_API_PORT, LaunchPlan
from lambdad.runtimes.spec import EnvironmentSpec
from lambdad.sandbox.base import MB_PER_VCPU, ChildRoot, SandboxBackend, SandboxSpec


def runtime_api(
    spec: EnvironmentSpec, backend: SandboxBackend
) -> tuple[str, str, socket.socket | None]:
    """(AWS_LAMBDA_RUNTIME_API, how init listens, the socket it gets from us, if any)."""
    # The process backend has no network namespace: it always shares the host's.
    if spec.network == "host" or getattr(backend, "name", "") == "process":
        # Sharing the host's network: bind a free port here and hand the socket
        # in, so two environments never race for one port.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        return f"127.0.0.1:{listener.getsockname()[1]}", f"fd:{listener.fileno()}", listener
    address = f"127.0.0.1:{RUNTIME_API_PORT}"
    return address, address, None


def sandbox_spec(
    spec: EnvironmentSpec,
    plan: LaunchPlan,
    init_end: socket.socket,
    listener: socket.socket | None,
    cwd: str,
    *,
    late_mounts: tuple[str, ...] = (),
    child_root: ChildRoot | None = None,
    direct_fds: tuple[int, ...] = (),
) -> SandboxSpec:
    """The sandbox a zip or image environment starts in: init gets its channel end,
    the Runtime API's listening socket (if `runtime_api` bound one) and the fds it
    passes on to a direct-channel runtime (`runtimes.direct`)."""
    pass_fds = (init_end.fileno(),) + ((listener.fileno(),) if listener else ()) + direct_fds
    return SandboxSpec(
        sandbox_id=spec.env_id,
        argv=plan.init_argv,
        env=plan.env,
        mounts=plan.mounts,
        memory_mb=spec.memory_mb,
        ephemeral_storage_mb=spec.ephemeral_storage_mb,
        work_dir=spec.work_dir,
        network=spec.network,
        forwards=spec.forwards,
        pass_fds=pass_fds,
        cwd=cwd,
        # Init runs on at least a whole core (Lambda boosts it too);
        # the share in proportion to memory applies from then on.
        init_cpus=max(1.0, spec.memory_mb / MB_PER_VCPU),
        late_mounts=late_mounts,
        child_root=child_root,
        init_reaps=True,  # bootstraps/init.py reaps what the function's processes leave
    )


def template_spec(spec: SandboxSpec, fork_fd: int) -> SandboxSpec:
    """`spec` as a SnapStart template's (`sandbox/restore.py`): init hands the fork
    channel `fork_fd` on to the runtime, whose processes may make namespaces."""
    argv = list(spec.argv)
    split = argv.index("--") if "--" in argv else len(argv)
    argv[split:split] = ["--template-fd", str(fork_fd)]
    return replace(spec, argv=tuple(argv), pass_fds=(*spec.pass_fds, fork_fd), template=True)


_RUNTIME_DIRS = "lambdad-runtime"


def prepare_dirs(spec: EnvironmentSpec) -> tuple[Path, Path]:
    """Host dirs seen at /opt and /var/lang/bin (blocking; run in a thread)."""
    root = spec.work_dir / _RUNTIME_DIRS
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    if spec.layer_dirs:
        # The layers come merged into one shared tree (catalog.OptTrees), never copied here.
        (opt_dir,) = spec.layer_dirs
        return opt_dir, bin_dir
    opt_dir = root / "opt"  # no layers: an empty /opt
    opt_dir.mkdir(exist_ok=True)
    return opt_dir, bin_dir


def make_links(bin_dir: Path, plan: LaunchPlan) -> None:
    for name, target in plan.links.items():
        link = bin_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
    for name, text in plan.files.items():
        (bin_dir / name).write_text(text)


def remove_runtime_dirs(work_dir: Path) -> None:
    shutil.rmtree(work_dir / _RUNTIME_DIRS, ignore_errors=True)
