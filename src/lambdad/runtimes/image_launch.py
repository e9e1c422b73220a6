"""Plan how a container image function starts: init in the sandbox, the image's command
chrooted into the image's root (pure, but for listing the root's top level).

Why this shape: the in-sandbox init is a Python script, and an image may have no
Python at all (a FROM-scratch image with a static binary). So init runs where it
runs for a zip function (the host's read-only system dirs, its interpreter, its
precompiled bytecode, the same channel), and the image's root is assembled beside
it at `IMAGE_ROOT`: each top-level entry of the image bound read-only there, a new
/proc, a minimal /dev and the sandbox's sized /tmp added, the whole made read-only
(`sandbox.ChildRoot`). Init starts the image's ENTRYPOINT + CMD chrooted into it
(bwrap leaves init alone CAP_SYS_CHROOT, which init clears from the function's
ambient set), so the function's `/` is the image's and it keeps no capability.
The alternative, the image as bwrap's `/` with the host's Python brought in at a
hidden path, would need the host's loader and libraries run by path from inside
the image, and would fail wherever the interpreter is not the system's.
"""

from __future__ import annotations

import os
from pathlib import Path

from lambdad.runtimes.interpreters import RuntimeChoice, server_python
from lambdad.runtimes.launch import (
    BOOTSTRAP_DIR,
    LaunchPlan,
    SandboxLayout,
    bytecode_mounts,
    init_command,
    init_start,
)
from lambdad.runtimes.spec import EnvironmentSpec, ImageLaunch
from lambdad.sandbox.base import ChildRoot, Mount

IMAGE_ROOT = "/.lambdad-image"
"""Where the image's root is assembled in the sandbox (only init sees this path)."""

# Made by the sandbox in the image's root: whatever the image has there stays hidden.
OWN_ENTRIES = frozenset({"proc", "dev", "tmp"})

IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""PATH when the image's ENV sets none (what container runtimes give an image)."""


def image_root(rootfs: Path) -> tuple[ChildRoot, tuple[Mount, ...]]:
    """The sandbox's view of an image's root: its top-level entries (dirs and files
    bound read-only, symlinks recreated; anything else left out). Blocking: lists
    `rootfs`."""
    mounts: list[Mount] = []
    symlinks: list[tuple[str, str]] = []
    with os.scandir(rootfs) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name in OWN_ENTRIES:
                continue
            target = f"{IMAGE_ROOT}/{entry.name}"
            if entry.is_symlink():
                symlinks.append((os.readlink(entry.path), entry.name))
            elif entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False):
                mounts.append(Mount(Path(entry.path), target))
    return ChildRoot(IMAGE_ROOT, tuple(symlinks), _resolver_bindable(rootfs)), tuple(mounts)


def _resolver_bindable(rootfs: Path) -> bool:
    """Whether the sandbox's resolv.conf can be bound at the image's etc/resolv.conf:
    there is a regular file to bind over (the image store makes one), or no etc at
    all (the sandbox makes it in the root's own tmpfs)."""
    etc = rootfs / "etc"
    if not os.path.lexists(etc):
        return True
    resolv = etc / "resolv.conf"
    return etc.is_dir() and not etc.is_symlink() and resolv.is_file() and not resolv.is_symlink()


def image_environment(
    image_env: tuple[tuple[str, str], ...], lambda_env: dict[str, str]
) -> dict[str, str]:
    """The image's ENV with the function's variables and Lambda's on top, as AWS merges
    them; PATH is the image's (or a container default), never the zip runtimes'."""
    env = dict(image_env)
    env.setdefault("PATH", IMAGE_PATH)
    env.update(lambda_env)
    return env


def plan_image_launch(
    spec: EnvironmentSpec,
    image: ImageLaunch,
    layout: SandboxLayout,
    *,
    api_address: str,
    listen: str,
    channel_fd: int,
) -> tuple[LaunchPlan, ChildRoot]:
    """`spec.environment` is the function's full environment (`image_environment`);
    the rest as for `launch.plan_launch`. Blocking (see `image_root`)."""
    init_python = server_python()
    child, entries = image_root(image.rootfs)
    env = dict(spec.environment)
    env["AWS_LAMBDA_RUNTIME_API"] = api_address
    mounts: list[Mount] = [
        Mount(BOOTSTRAP_DIR, layout.runtime),  # init's, in init's root
        *entries,
    ]
    if init_python.needs_mount:
        mounts.append(Mount(init_python.prefix, str(init_python.prefix)))
    rest = ("--root", child.path, "--cwd", image.working_dir or "/", "--", *image.argv)
    init_argv = init_command(init_python, layout, spec.bytecode_dir, listen, channel_fd, rest)
    mounts.extend(bytecode_mounts(init_argv, layout, spec.bytecode_dir))
    error = None
    if not image.argv:
        error = (
            "Runtime.InvalidEntrypoint",
            "The image has no ENTRYPOINT or CMD and the function's ImageConfig sets none",
        )
    choice = RuntimeChoice("provided", "", None)
    # AWS's INIT_START, with no runtime version: the image brings its own runtime.
    notices = (init_start(spec, None, []),)
    plan = LaunchPlan(choice, init_argv, env, tuple(mounts), notices=notices, error=error)
    return plan, child
